"""Check SORT and UID SORT orders against the RFC 5256 model (rfc5256.py).

For each criterion alone, REVERSE, and several multi-key lists, the
server's answer must equal the model's order with ties broken by
sequence number; UID SORT must be the same order in UIDs. Then SORT
with search keys (OR, NOT, HEADER, literals, sequence and UID sets)
must return exactly SEARCH's set, in SORT's order.

usage: order.py MAILBOX [PORT USER PASS]   (exit 1 on a mismatch)
"""
import email.parser
import functools
import imaplib
import re
import sys
import time

import imapraw
from rfc5256 import base_subject, date_key, mailbox

NAMES = ["ARRIVAL", "CC", "DATE", "FROM", "SIZE", "SUBJECT", "TO"]
COMBOS = ([[(n, False)] for n in NAMES] + [[(n, True)] for n in NAMES] + [
    [("SUBJECT", False), ("DATE", True)],
    [("FROM", False), ("SUBJECT", True), ("SIZE", False)],
    [("CC", True), ("TO", False), ("DATE", False)],
    [("DATE", False), ("SUBJECT", False)],
    [("SUBJECT", False), ("DATE", False)],
    [("TO", True), ("ARRIVAL", True)]])
KEYSETS = [b"OR FROM bob TO alice", b"NOT FROM bob", b"HEADER Subject hello",
           b"UID 5:40,100,250:*", b"1:10,20:30",
           b"OR (FROM bob SUBJECT apple) NOT (SUBJECT hello)",
           b"LARGER 2000 SMALLER 3000", b"BODY \"* SEARCH\"",
           b"SUBJECT \"\xc3\xbcber\"", b"NOT NOT ALL", b"UNSEEN",
           b"SENTBEFORE 3-Jan-2024", b"*", b"UID *",
           b"HEADER X-StrataMail-Sort-0000000000000000 \"DATE\""]


def load(m):
    _, data = m.fetch("1:*", "(UID INTERNALDATE RFC822.SIZE BODY.PEEK[HEADER])")
    msgs = []
    for it in data:
        if not isinstance(it, tuple):
            continue
        meta = it[0].decode()
        internal = int(time.mktime(imaplib.Internaldate2tuple(it[0])))
        h = email.parser.HeaderParser().parsestr(it[1].decode("utf-8", "replace"))

        def field(k):
            v = h.get_all(k)
            return None if not v else str(v[0])
        size = int(re.search(r"RFC822.SIZE (\d+)", meta).group(1))
        msgs.append(dict(
            seq=int(meta.split()[0]), uid=int(re.search(r"UID (\d+)", meta).group(1)),
            ARRIVAL=internal, SIZE=size, DATE=date_key(field("Date"), internal),
            SUBJECT=base_subject(field("Subject") or ""), FROM=mailbox(field("From")),
            TO=mailbox(field("To")), CC=mailbox(field("Cc"))))
    return sorted(msgs, key=lambda x: x["seq"])


def expected(msgs, crit):
    def key(x, c):
        v = x[c]
        return v.encode() if isinstance(v, str) else v

    def cmp(a, b):
        for c, rev in crit:
            ka, kb = key(a, c), key(b, c)
            r = (ka > kb) - (ka < kb)
            if r:
                return -r if rev else r
        return a["seq"] - b["seq"]
    return [x["seq"] for x in sorted(msgs, key=functools.cmp_to_key(cmp))]


def label(crit):
    return " ".join(("REVERSE " if r else "") + c for c, r in crit)


def check_orders(m, msgs):
    seq2uid = {x["seq"]: x["uid"] for x in msgs}
    bad = 0
    for crit in COMBOS:
        spec = "(" + label(crit) + ")"
        typ, d = m.sort(spec, "UTF-8", "ALL")
        typu, du = m.uid("SORT", spec, "UTF-8", "ALL")
        got = [int(x) for x in d[0].split()]
        gotu = [int(x) for x in du[0].split()]
        exp = expected(msgs, crit)
        if got == exp and gotu == [seq2uid[s] for s in got]:
            print("ok   SORT", spec)
            continue
        bad += 1
        i = next((i for i, (a, b) in enumerate(zip(exp, got)) if a != b), 0)
        print("FAIL SORT", spec, "first difference at", i, "expected", exp[i:i + 4],
              "got", got[i:i + 4])
        for s in {exp[i], got[i]}:
            print("     seq", s, {k: v for k, v in msgs[s - 1].items() if k != "seq"})
    return bad


def check_keys(box, port, user, pw):
    s = imapraw.conn(port)
    imapraw.cmd(s, b"L", b"LOGIN " + user.encode() + b" " + pw.encode())
    imapraw.cmd(s, b"S", b"EXAMINE " + box.encode())
    bad = 0
    for uid in (b"", b"UID "):
        ref = imapraw.nums(imapraw.cmd(s, b"R", uid + b"SORT (SUBJECT) UTF-8 ALL"), b"SORT")
        for keys in KEYSETS:
            hits = imapraw.nums(
                imapraw.cmd(s, b"Q", uid + b"SEARCH CHARSET UTF-8 " + keys), b"SEARCH")
            got = imapraw.nums(imapraw.cmd(s, b"T", uid + b"SORT (SUBJECT) UTF-8 " + keys), b"SORT")
            exp = None if hits is None else [x for x in ref if x in set(hits)]
            ok = got is not None and got == exp
            bad += not ok
            print("ok  " if ok else "FAIL", (uid + b"SORT").decode(), keys.decode(errors="replace"),
                  "" if ok else f"expected {exp and exp[:8]} got {got and got[:8]}")
    s.close()
    return bad


def main():
    box = sys.argv[1]
    port = int(sys.argv[2]) if len(sys.argv) > 2 else imapraw.IMAP_PORT
    user = sys.argv[3] if len(sys.argv) > 3 else imapraw.USER
    pw = sys.argv[4] if len(sys.argv) > 4 else imapraw.PASS
    m = imaplib.IMAP4("127.0.0.1", port)
    m.login(user, pw)
    m.select(box, readonly=True)
    msgs = load(m)
    bad = check_orders(m, msgs) + check_keys(box, port, user, pw)
    print(f"order {box}: {len(msgs)} messages, {bad} failures")
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
