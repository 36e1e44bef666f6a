"""Many concurrent connections pipelining SORT, UID SORT, SEARCH and FETCH.

Every SORT must be answered by "* SORT" and "OK [UID ]SORT completed",
every SEARCH by "* SEARCH", each command's result must be the same in
every connection, and a FETCH of a body holding "* SEARCH 1 2" must come
back with it. Prints the server's RSS before, at its peak and after.

usage: load.py CONNECTIONS ROUNDS   (exit 1 on a wrong answer)
"""
import random
import re
import sys
import threading
import time

import imapraw

CMDS = [(b"SORT (DATE) UTF-8 ALL", b"SORT"),
        (b"SORT (REVERSE SUBJECT FROM) UTF-8 1:100", b"SORT"),
        (b"UID SORT (SIZE) UTF-8 OR FROM bob TO alice", b"SORT"),
        (b"SEARCH FROM bob", b"SEARCH"), (b"UID SEARCH 1:50", b"SEARCH"),
        (b"SORT (CC TO) UTF-8 NOT SUBJECT hello", b"SORT")]
REF = {}


def check_batch(f, batch, errs, i):
    for j, (c, word) in enumerate(batch):
        line = f.readline()
        if not line.startswith(b"* " + word):
            errs.append((i, c, line[:80]))
            return False
        if REF.setdefault(c, line) != line:
            errs.append((i, c, "a different result"))
            return False
        done = f.readline()
        want = b"t%d OK %s%s completed" % (j, b"UID " if c.startswith(b"UID") else b"", word)
        if not done.startswith(want):
            errs.append((i, c, done[:80]))
            return False
    return True


def run(i, rounds, errs):
    try:
        s = imapraw.conn()
        s.settimeout(120)
        f = s.makefile("rb")
        s.sendall(b"L LOGIN " + imapraw.USER.encode() + b" " + imapraw.PASS.encode()
                  + b"\r\nS EXAMINE Ctl\r\n")
        while not f.readline().startswith(b"S OK"):
            pass
        r = random.Random(i)
        for _ in range(rounds):
            batch = [r.choice(CMDS) for _ in range(r.randint(1, 4))]
            data = b"".join(b"t%d %s\r\n" % (j, c) for j, (c, _) in enumerate(batch))
            fetch = r.random() < 0.3
            if fetch:
                data += b"f FETCH 8 (BODY.PEEK[TEXT])\r\n"
            s.sendall(data)
            if not check_batch(f, batch, errs, i):
                return
            if fetch:
                line = f.readline()
                body = f.read(int(re.search(rb"\{(\d+)\}", line).group(1)))
                if b"* SEARCH 1 2\r\n" not in body:
                    errs.append((i, "fetch", body[:60]))
                    return
                f.readline()
                f.readline()
        s.sendall(b"z LOGOUT\r\n")
        f.readline()
        f.readline()
        s.close()
    except Exception as e:  # reported, not raised: one thread's failure
        errs.append((i, "exception", repr(e)))


def main():
    conns, rounds = int(sys.argv[1]), int(sys.argv[2])
    before = imapraw.rss_kb()
    errs = []
    t0 = time.time()
    ts = [threading.Thread(target=run, args=(i, rounds, errs)) for i in range(conns)]
    for t in ts:
        t.start()
    peak = before
    while any(t.is_alive() for t in ts):
        time.sleep(0.5)
        peak = max(peak, imapraw.rss_kb())
    time.sleep(1)
    print(f"load: {conns} connections x {rounds} rounds in {time.time() - t0:.1f} s; "
          f"RSS before {before} kB, peak {peak} kB, after {imapraw.rss_kb()} kB; "
          f"{len(errs)} wrong answers {errs[:3]}")
    sys.exit(1 if errs else 0)


if __name__ == "__main__":
    main()
