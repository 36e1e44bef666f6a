"""Raw-socket attacks on the SORT wrapper (imapd/guard.go, sortwire.go).

Each check prints PASS or FAIL with the bytes sent and what came back.
A FAIL is a defect as long as the expectation printed with it holds
(RFC 3501 / RFC 5256, or byte-identical message data). Needs a filled
server (fill.py): folders Ctl and Scratch. SA_TLS_PORT, when set, is a
second instance of the same user with [tls], for the STARTTLS checks.

usage: attacks.py [NAME...]   (default: all; exit 1 on a FAIL)
"""
import base64
import email.utils
import os
import re
import smtplib
import socket
import ssl
import sys
import time

import imapraw
from imapraw import cmd, conn, nums, recv_until, session, tagged

TLS_PORT = int(os.environ.get("SA_TLS_PORT", "0"))
CHECKS = []
FAILS = []


def check(fn):
    CHECKS.append(fn)
    return fn


def verdict(name, ok, sent=b"", got=b"", want=""):
    print(("PASS " if ok else "FAIL ") + name)
    if not ok:
        FAILS.append(name)
        print("     sent:", repr(sent)[:400])
        print("     got: ", repr(got)[:600])
        print("     want:", want)


def is_sort(r, tag):
    return nums(r, b"SORT") is not None and re.search(
        rb"(^|\n)" + tag + rb" OK (UID )?SORT completed", r) is not None


@check
def caps_offer_sort():
    s = conn()
    r = cmd(s, b"a", b"CAPABILITY")
    verdict("CAPABILITY offers SORT on plain text", b" SORT " in r, b"a CAPABILITY", r,
            "SORT in the list")


@check
def sort_before_select():
    s = conn()
    r = cmd(s, b"a", b"SORT (DATE) UTF-8 ALL")
    ok = re.search(rb"^a (NO|BAD) ", r) is not None
    imapraw.login(s)
    r2 = cmd(s, b"b", b"SORT (DATE) UTF-8 ALL")
    ok = ok and re.search(rb"^b (NO|BAD) ", r2) is not None
    verdict("SORT before login and before SELECT is refused", ok, b"a SORT.. / b SORT..",
            r + r2, "tagged NO or BAD, connection alive")


@check
def quoted_charset():
    s = session("Ctl", True)
    line = b'SORT (DATE) "UTF-8" 1:3'
    r = cmd(s, b"a", line)
    verdict("charset as a quoted string (RFC 5256: charset is an astring)",
            is_sort(r, b"a"), b"a " + line, r, "* SORT 2 3 1 / a OK SORT completed, "
            "as SEARCH CHARSET \"UTF-8\" is accepted")


@check
def literal_charset():
    s = session("Ctl", True)
    # A known limit (imapd/sortwire.go): a charset sent as a literal is
    # not recognised, so the command is refused whole, and the
    # connection must go on.
    s.sendall(b"a SORT (DATE) {5}\r\n")
    r = recv_until(s, b"\r\n", 3)
    if r.startswith(b"+"):
        s.sendall(b"UTF-8 1:3\r\n")
        r += tagged(s, b"a")
    r2 = cmd(s, b"b", b"NOOP")
    verdict("charset as a synchronising literal: refused, connection usable",
            r.startswith(b"a BAD") and b"b OK" in r2,
            b"a SORT (DATE) {5}\\r\\n, b NOOP", r + r2, "a BAD, then b OK")


@check
def long_tags():
    s = session("Ctl", True)
    bad = []
    for n, uid in ((240, b""), (80, b"UID ")):
        tag = b"T" * n
        r = cmd(s, tag, uid + b"SORT (REVERSE DATE) UTF-8 1:2")
        if not is_sort(r, tag):
            bad.append((n, uid, r.replace(tag, b"<T*%d>" % n)))
    verdict("SORT with long tags (240: a SORT; 80: UID SORT completed)", not bad,
            b"<T*240> SORT (REVERSE DATE) UTF-8 1:2 and <T*80> UID SORT ...", bad,
            "* SORT ... and <tag> OK [UID ]SORT completed, as SEARCH takes such tags")


@check
def long_criteria():
    s = session("Ctl", True)
    crit = b" ".join([b"REVERSE SUBJECT"] * 20)
    r = cmd(s, b"a", b"SORT (" + crit + b") UTF-8 1:3")
    verdict("criteria list over 256 bytes (20 x REVERSE SUBJECT)", is_sort(r, b"a"),
            b"a SORT (REVERSE SUBJECT x20) UTF-8 1:3", r, "* SORT (RFC 5256 sets no limit)")


@check
def sort_after_done():
    s = session("Ctl", True)
    s.sendall(b"i IDLE\r\n")
    recv_until(s, b"+ idling\r\n", 3)
    s.sendall(b"DONE\r\nx SORT (DATE) UTF-8 1:3\r\n")
    r = tagged(s, b"x")
    verdict("SORT pipelined behind IDLE's DONE", is_sort(r, b"x"),
            b"DONE\\r\\nx SORT (DATE) UTF-8 1:3\\r\\n", r,
            "i OK, * SORT 2 3 1, x OK SORT completed")


@check
def sort_after_sasl_ir():
    s = conn()
    ir = base64.b64encode(b"\0" + imapraw.USER.encode() + b"\0" + imapraw.PASS.encode())
    data = (b"A AUTHENTICATE PLAIN " + ir + b"\r\nB EXAMINE Ctl\r\n"
            b"C SORT (DATE) UTF-8 1:3\r\n")
    s.sendall(data)
    r = tagged(s, b"C")
    verdict("SORT pipelined behind AUTHENTICATE PLAIN with SASL-IR", is_sort(r, b"C"),
            b"A AUTHENTICATE PLAIN <ir>\\r\\nB EXAMINE Ctl\\r\\nC SORT (DATE) UTF-8 1:3\\r\\n",
            r[-120:], "* SORT 2 3 1, C OK SORT completed")


@check
def refused_starttls_keeps_sort():
    s = session("Ctl", True)
    r1 = cmd(s, b"b", b"STARTTLS")
    r2 = cmd(s, b"c", b"SORT (DATE) UTF-8 1:3")
    r3 = cmd(s, b"d", b"CAPABILITY")
    ok = re.search(rb"^b (NO|BAD)", r1) and is_sort(r2, b"c") and b" SORT " in r3
    verdict("a refused STARTTLS (after LOGIN) leaves SORT on", bool(ok),
            b"b STARTTLS / c SORT (DATE) UTF-8 1:3 / d CAPABILITY", r1 + r2 + r3,
            "b NO/BAD, then * SORT 2 3 1 and SORT still in CAPABILITY")


@check
def refused_starttls_literal_injection():
    s = session()
    cmd(s, b"b", b"STARTTLS")
    lit = b"z CREATE SortAttackInjected\r\n" + b"y NOOP " + b"x" * 4980 + b"\r\n"
    s.sendall(b"e APPEND Scratch {%d+}\r\n" % len(lit) + lit + b"\r\n")
    r = recv_until(s, b"y ", 3)
    s2 = session()
    r2 = cmd(s2, b"g", b'LIST "" SortAttackInjected')
    injected = b"* LIST" in r2
    if injected:
        cmd(s2, b"h", b"DELETE SortAttackInjected")
    verdict("after a refused STARTTLS, an oversized non-synchronising literal is not run as"
            " commands", not injected,
            b"b STARTTLS / e APPEND Scratch {5009+}\\r\\nz CREATE SortAttackInjected\\r\\n...",
            r[:200], "the connection ends (as without STARTTLS); no folder created")


@check
def duplicate_tag_append():
    sortline = b"x SORT (DATE) UTF-8 ALL\r\n"
    marker = b"X-StrataMail-Sort-" + b"0" * 16
    growth = len(b"x SEARCH CHARSET UTF-8 HEADER " + marker + b' "DATE" ALL\r\n') - len(sortline)
    body = (b"Subject: dup\r\nFrom: a@b.test\r\n\r\nline one\r\n" + sortline
            + b"\r\n" * ((growth - 2) // 2) + b"end")
    s = session()
    s.sendall(b"a NOOP\r\na APPEND Scratch {%d}\r\n" % len(body))
    r = recv_until(s, b"+ ", 3)
    s.sendall(body + b"\r\n")
    r += recv_until(s, b"APPEND completed", 3)
    m = re.search(rb"APPENDUID \d+ (\d+)", r)
    stored = b""
    if m:
        cmd(s, b"b", b"EXAMINE Scratch")
        f = cmd(s, b"c", b"UID FETCH " + m.group(1) + b" (BODY.PEEK[])")
        lm = re.search(rb"\{(\d+)\}\r\n", f)
        stored = f[lm.end():lm.end() + int(lm.group(1))]
    verdict("APPEND behind a command with the same tag stores the literal unchanged",
            stored == body, b"a NOOP\\r\\na APPEND Scratch {%d}\\r\\n [+] " % len(body) + body,
            stored or r, "the stored message equals the literal sent")


@check
def oversized_sync_literal_unknown_command():
    bad = []
    for line in (b"c SORT (DATE) {5000}", b"c FOO {5000}"):
        s = session("Ctl", True)
        s.sendall(line + b"\r\n")
        r = recv_until(s, b"c ", 3)
        time.sleep(0.3)
        s.sendall(b"d NOOP\r\n")
        r2 = recv_until(s, b"d ", 3)
        if b"d OK" not in r2:
            bad.append((line, r + r2))
    verdict("a synchronising literal over 4096 bytes on a line go-imap does not know "
            "(a SORT the guard does not rewrite) leaves the connection usable", not bad,
            b"c SORT (DATE) {5000}\r\n / d NOOP\r\n", bad,
            "c BAD Unknown command, then d OK NOOP completed (as before commit 537b8d1)")


@check
def oversized_literal_marker_in_sasl_response():
    s = conn()
    s.sendall(b"A AUTHENTICATE PLAIN\r\n")
    recv_until(s, b"\r\n", 3)
    s.sendall(b"abc{5000}\r\n")
    r = recv_until(s, b"A ", 3)
    time.sleep(0.3)
    s.sendall(b"B NOOP\r\n")
    r += recv_until(s, b"B ", 3)
    verdict("a SASL response ending in {5000} leaves the connection usable", b"B OK" in r,
            b"A AUTHENTICATE PLAIN\r\n [+] abc{5000}\r\n / B NOOP\r\n", r,
            "A BAD Malformed SASL response, then B OK NOOP completed")


@check
def guessed_marker():
    s = session("Ctl", True)
    line = b'SEARCH HEADER X-StrataMail-Sort-0000000000000000 "DATE" 1:3'
    r = cmd(s, b"a", line)
    want = b"* SEARCH\r\na OK SEARCH completed\r\n"
    verdict("a SEARCH with a guessed marker stays a SEARCH", r == want,
            b"a " + line, r, "* SEARCH / a OK SEARCH completed")


MSG = (b"Subject: pipelined\r\nFrom: p@x.test\r\n\r\n* SEARCH 1 2\r\n"
       b"* CAPABILITY IMAP4rev1\r\nq SORT (DATE) UTF-8 ALL\r\n\r\n\r\n{5}\r\n")
PIPE = (b"a NOOP\r\nb SEARCH 1:5\r\n\r\nc SORT (REVERSE ARRIVAL) UTF-8 1:5\r\n"
        b"d FETCH 8 (BODY.PEEK[TEXT])\r\ne UID SORT (SIZE) UTF-8 1:5\n"
        b"f APPEND Scratch {%d+}\r\n" % len(MSG) + MSG + b"\r\n"
        b"g sort (date) utf-8 1:3\r\nh SEARCH 1:3\r\ni CAPABILITY\r\n"
        b"j UID SORT (SUBJECT) UTF-8 OR SUBJECT {2+}\r\nre SUBJECT zeta\r\n"
        b"k NOOP\r\nl IDLE\r\nDONE\r\n")


def pipeline(cut):
    s = session("Ctl")
    if cut is None:
        s.sendall(PIPE)
    elif cut == "bytes":
        for i in range(len(PIPE)):
            s.send(PIPE[i:i + 1])
            time.sleep(0.0005)
    else:
        s.sendall(PIPE[:cut])
        time.sleep(0.01)
        s.sendall(PIPE[cut:])
    r = tagged(s, b"l", 10)
    r += cmd(s, b"z", b"SORT (DATE) UTF-8 1:2")
    s.close()
    return re.sub(rb"APPENDUID \d+ \d+", b"APPENDUID x y", r)


def reference():
    s = session("Ctl")
    out = b""
    # One command at a time: the same bytes, waiting for each tagged reply.
    parts = [b"a NOOP\r\n", b"b SEARCH 1:5\r\n", b"c SORT (REVERSE ARRIVAL) UTF-8 1:5\r\n",
             b"d FETCH 8 (BODY.PEEK[TEXT])\r\n", b"e UID SORT (SIZE) UTF-8 1:5\n",
             b"f APPEND Scratch {%d+}\r\n" % len(MSG) + MSG + b"\r\n",
             b"g sort (date) utf-8 1:3\r\n", b"h SEARCH 1:3\r\n", b"i CAPABILITY\r\n",
             b"j UID SORT (SUBJECT) UTF-8 OR SUBJECT {2+}\r\nre SUBJECT zeta\r\n",
             b"k NOOP\r\n"]
    for p in parts:
        s.sendall(p)
        out += tagged(s, p[:1])
    s.sendall(b"l IDLE\r\n")
    out += recv_until(s, b"+ idling\r\n")
    s.sendall(b"DONE\r\n")
    out += tagged(s, b"l")
    out += cmd(s, b"z", b"SORT (DATE) UTF-8 1:2")
    return re.sub(rb"APPENDUID \d+ \d+", b"APPENDUID x y", out)


@check
def pipelined_mixture():
    ref = reference()
    ok = b"* SORT" in ref and b"* SEARCH 1 2 3 4 5\r\n" in ref
    bad = [c for c in [None, "bytes"] if pipeline(c) != ref]
    step = int(os.environ.get("SA_CUT_STEP", "1"))
    bad += [c for c in range(1, len(PIPE), step) if pipeline(c) != ref]
    verdict("pipelined SEARCH/SORT/FETCH/APPEND/IDLE: one segment, a byte per segment, "
            "and two segments cut at every byte give the one-at-a-time answers",
            ok and not bad, PIPE, f"cuts that differ: {bad[:20]}", "no differing cut")


@check
def split_inside_sort_and_lone_lf():
    s = session("Ctl", True)
    for part in [b"x S", b"O", b"RT (DA", b"TE) UT", b"F-8 1", b":3\r", b"\n"]:
        s.sendall(part)
        time.sleep(0.1)
    r = tagged(s, b"x")
    s.sendall(b"y SORT (DATE) UTF-8 1:3\ny2 NOOP\n")
    r2 = tagged(s, b"y2")
    verdict("SORT split inside its name, and with lone LF",
            is_sort(r, b"x") and is_sort(r2, b"y"),
            b"x S|O|RT (DA|TE) UT|F-8 1|:3\\r|\\n, y SORT ...\\n", r + r2, "* SORT twice")


@check
def fetch_byte_identical():
    if not imapraw.MAILDIR:
        print("SKIP fetch_byte_identical (SA_MAILDIR unset)")
        return
    disk = set()
    for sub in ("new", "cur"):
        d = os.path.join(imapraw.MAILDIR, sub)
        for f in os.listdir(d):
            with open(os.path.join(d, f), "rb") as fh:
                disk.add(fh.read())
    s = session("INBOX", True)
    s.sendall(b"a SORT (SIZE) UTF-8 ALL\r\nb FETCH 1:* (BODY.PEEK[])\r\nc SORT (DATE) UTF-8 1\r\n")
    r = tagged(s, b"c", 30)
    lits = []
    for m in re.finditer(rb"BODY\[\] \{(\d+)\}\r\n", r):
        lits.append(r[m.end():m.end() + int(m.group(1))])
    same = sum(1 for x in lits if x in disk)
    trick = sum(1 for x in lits if b"* SEARCH 1 2\r\n" in x)
    verdict(f"FETCH BODY[] between two SORTs equals the files ({same}/{len(lits)}, "
            f"{trick} hold '* SEARCH 1 2')", same == len(lits) == len(disk) and trick > 0,
            b"a SORT.. b FETCH 1:* (BODY.PEEK[]) c SORT..", r[:200],
            "every literal equals its file")


@check
def idle_new_mail_then_sort():
    s = session("INBOX")
    n0 = int(re.search(rb"\* (\d+) EXISTS", cmd(s, b"n", b"SELECT INBOX")).group(1))
    s.sendall(b"i IDLE\r\n")
    recv_until(s, b"+ idling\r\n")
    sm = smtplib.SMTP("127.0.0.1", imapraw.SMTP_PORT)
    date = email.utils.formatdate(time.time() + 10 * 365 * 86400).encode()
    for k in range(3):  # one Date, later than any other: ties, broken by sequence
        sm.sendmail("x@y.test", [imapraw.USER], b"Subject: idle %d\r\n"
                    b"Date: %s\r\n\r\n* SEARCH 7\r\n" % (k, date))
    sm.quit()
    r = recv_until(s, b"* %d EXISTS" % (n0 + 3), 40)
    s.sendall(b"DONE\r\n")
    r += tagged(s, b"i")
    r2 = cmd(s, b"x", b"SORT (REVERSE DATE) UTF-8 ALL")
    got = nums(r2, b"SORT") or []
    ok = (b"* %d EXISTS" % (n0 + 3)) in r and got[:3] == [n0 + 1, n0 + 2, n0 + 3]
    verdict("IDLE, 3 new messages, DONE, SORT (REVERSE DATE): the new ones first, ties in "
            "sequence order", ok, b"i IDLE .. DONE / x SORT (REVERSE DATE) UTF-8 ALL",
            r + r2[:80], f"* {n0 + 3} EXISTS during IDLE; * SORT {n0 + 1} {n0 + 2} {n0 + 3} ...")


def tls_wrap(s):
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    t = ctx.wrap_socket(s, server_hostname="localhost")
    return t


@check
def starttls_keeps_sort():
    if not TLS_PORT:
        print("SKIP starttls_keeps_sort (SA_TLS_PORT unset)")
        return
    s = conn(TLS_PORT)
    s.sendall(b"a SORT (DATE) UTF-8 1:3\r\nb STARTTLS\r\n")
    r = tagged(s, b"b")
    t = tls_wrap(s)
    r2 = cmd(t, b"c", b"CAPABILITY")
    imapraw.login(t, "Ctl", True)
    r3 = cmd(t, b"d", b"SORT (DATE) UTF-8 1:3")
    r4 = cmd(t, b"e", b"SEARCH 1:3")
    ok = (b"b OK" in r and b" SORT" in r2 and b"STARTTLS" not in r2
          and r3.startswith(b"* SORT ") and b"d OK" in r3
          and b"* SEARCH 1 2 3\r\n" in r4)
    verdict("SORT pipelined before STARTTLS; in TLS SORT is offered and answered",
            ok, b"a SORT..\r\nb STARTTLS\r\n / TLS: c CAPABILITY, d SORT, e SEARCH",
            r + r2 + r3 + r4, "b OK; SORT and no STARTTLS; * SORT; * SEARCH 1 2 3")
    s = conn(TLS_PORT)
    s.sendall(b"a STARTTLS\r\nb CAPABILITY\r\n")
    r = tagged(s, b"a")
    try:
        t = tls_wrap(s)
        r += cmd(t, b"c", b"NOOP")
    except (ssl.SSLError, OSError) as e:
        r += repr(e).encode()
    verdict("plain text pipelined behind STARTTLS is not answered", b"* CAPABILITY" not in r
            and b"c OK" in r, b"a STARTTLS\r\nb CAPABILITY\r\n", r,
            "no answer to b; the session goes on in TLS (c OK)")
    s = conn(TLS_PORT)
    cmd(s, b"a", b"STARTTLS")
    t = tls_wrap(s)
    imapraw.login(t, "Ctl", True)
    t.sendall(b"f SELECT INBOX\r\ng APPEND Scratch {5009+}\r\n"
              b"z CREATE SortAttackInjected\r\n" + b"x" * 4980 + b"\r\n")
    r = b""
    try:
        while True:
            d = t.recv(65536)
            if not d:
                break
            r += d
    except (ssl.SSLError, OSError):
        pass
    s2 = conn(TLS_PORT)
    cmd(s2, b"i", b"STARTTLS")
    t2 = imapraw.login(tls_wrap(s2))
    r5 = cmd(t2, b"h", b'LIST "" "SortAttackInjected"')
    verdict("in TLS, an oversized non-synchronising literal is not run as commands",
            b"z OK" not in r and b"SortAttackInjected" not in r5,
            b"STARTTLS / g APPEND Scratch {5009+}\\r\\nz CREATE SortAttackInjected...",
            r[-200:] + r5, "the connection ends; no folder created")


def main():
    names = sys.argv[1:]
    for fn in CHECKS:
        if not names or fn.__name__ in names:
            try:
                fn()
            except Exception as e:  # a crash of the check is a failure too
                verdict(fn.__name__, False, b"", repr(e).encode(), "no exception")
    print(f"attacks: {len(FAILS)} failed: {' '.join(FAILS)}")
    sys.exit(1 if FAILS else 0)


if __name__ == "__main__":
    main()
