#!/usr/bin/env python3
"""dovecot_compare.py: fill a StrataMail mailbox over IMAP, then compare
what StrataMail and a Dovecot serving a copy of the same Maildir show.

    dovecot_compare.py fill    --imap HOST:PORT --user U --password P
    dovecot_compare.py compare --a HOST:PORT --b HOST:PORT --user U \
                               --password P [--b-user U2 --b-password P2]

fill creates folders (one with a non-ASCII name, one nested), moves and
flags messages already in INBOX, and appends one message with flags.
compare lists every folder on both servers and, per folder, every
message's Message-ID and flags (system flags only: keywords are
StrataMail's own), and prints one verdict line per check.
"""
import argparse
import imaplib
import re
import sys


def connect(addr, user, password):
    host, port = addr.rsplit(":", 1)
    c = imaplib.IMAP4(host, int(port))
    c.login(user, password)
    return c


def check(typ, data, what):
    if typ != "OK":
        raise SystemExit("%s: %s %r" % (what, typ, data))
    return data


def fill(a):
    c = connect(a.imap, a.user, a.password)
    for name in ["Projekte", "Projekte.Q4", "Gr\u00fc\u00dfe", "Archiv"]:
        enc = imap_utf7(name)
        check(*c.create('"%s"' % enc), "CREATE " + name)
    check(*c.select("INBOX"), "SELECT INBOX")
    typ, data = c.search(None, "ALL")
    ids = data[0].split()
    if len(ids) < 4:
        raise SystemExit("INBOX needs at least 4 messages, has %d" % len(ids))
    check(*c.store(ids[0], "+FLAGS", r"(\Seen \Flagged)"), "STORE 1")
    check(*c.store(ids[1], "+FLAGS", r"(\Answered)"), "STORE 2")
    check(*c.copy(ids[2], '"%s"' % imap_utf7("Gr\u00fc\u00dfe")), "COPY 3")
    check(*c.copy(ids[3], "Projekte.Q4"), "COPY 4")
    check(*c.store(ids[3], "+FLAGS", r"(\Deleted)"), "STORE 4")
    check(*c.expunge(), "EXPUNGE")
    msg = (b"From: alice@example.test\r\nTo: bob@example.test\r\n"
           b"Subject: appended draft\r\nMessage-ID: <append-1@example.test>\r\n"
           b"\r\nA draft.\r\n")
    check(*c.append("Drafts", r"(\Draft \Seen)", None, msg), "APPEND")
    c.logout()
    print("filled")


def imap_utf7(s):
    # RFC 3501 modified UTF-7, for names with non-ASCII characters.
    out, buf = [], []

    def flush():
        if buf:
            b = "".join(buf).encode("utf-16-be")
            import base64
            out.append("&" + base64.b64encode(b).decode().rstrip("=").replace("/", ",") + "-")
            buf.clear()
    for ch in s:
        if 0x20 <= ord(ch) <= 0x7e:
            flush()
            out.append("&-" if ch == "&" else ch)
        else:
            buf.append(ch)
    flush()
    return "".join(out)


LIST_RE = re.compile(rb'\((?P<attrs>[^)]*)\) (?:"(?P<sep>[^"]*)"|NIL) (?P<name>.*)$')


def folders(c):
    typ, data = c.list('""', "*")
    check(typ, data, "LIST")
    names = []
    for line in data:
        m = LIST_RE.match(line)
        if not m:
            raise SystemExit("LIST line: %r" % line)
        if rb"\Noselect" in m.group("attrs") or rb"\NonExistent" in m.group("attrs"):
            continue
        name = m.group("name").strip(b'"').decode()
        names.append(name.replace("/", ".") if m.group("sep") == b"/" else name)
    return sorted(names)


FLAGS_RE = re.compile(rb"FLAGS \(([^)]*)\)")
MID_RE = re.compile(rb"Message-ID:\s*(<[^>]*>)", re.I)
SYSTEM = {"\\Seen", "\\Answered", "\\Flagged", "\\Deleted", "\\Draft"}


def messages(c, folder):
    typ, data = c.select('"%s"' % folder, readonly=True)
    check(typ, data, "SELECT " + folder)
    if int(data[0]) == 0:
        return []
    typ, data = c.fetch("1:*", "(FLAGS BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)])")
    check(typ, data, "FETCH " + folder)
    out = []
    for part in data:
        if not isinstance(part, tuple):
            continue
        flags = FLAGS_RE.search(part[0]) or FLAGS_RE.search(b"")
        f = set(flags.group(1).decode().split()) if flags else set()
        mid = MID_RE.search(part[1])
        out.append((mid.group(1).decode() if mid else "?", " ".join(sorted(f & SYSTEM))))
    return sorted(out)


def compare(a):
    ca = connect(a.a, a.user, a.password)
    cb = connect(a.b, a.b_user or a.user, a.b_password or a.password)
    fails = 0

    def verdict(ok, what, detail=""):
        nonlocal fails
        fails += not ok
        print("%s %s%s" % ("PASS" if ok else "FAIL", what, (": " + detail) if detail else ""))

    fa, fb = folders(ca), folders(cb)
    verdict(fa == fb, "same folders (%d)" % len(fa), "" if fa == fb else "stratamail %s, dovecot %s" % (fa, fb))
    for f in fa:
        if f not in fb:
            continue
        ma, mb = messages(ca, f), messages(cb, f)
        detail = "" if ma == mb else "stratamail %s\n     dovecot    %s" % (ma, mb)
        verdict(ma == mb, "folder %-12s %d message(s), same Message-IDs and flags" % (f, len(ma)), detail)
    total = sum(len(messages(ca, f)) for f in fa)
    verdict(total > 0, "messages compared: %d" % total)
    ca.logout()
    cb.logout()
    print("%s: %d check(s) failed" % ("FAIL" if fails else "PASS", fails))
    return 1 if fails else 0


def main():
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    f = sub.add_parser("fill")
    f.add_argument("--imap", required=True)
    f.add_argument("--user", required=True)
    f.add_argument("--password", required=True)
    c = sub.add_parser("compare")
    c.add_argument("--a", required=True)
    c.add_argument("--b", required=True)
    c.add_argument("--user", required=True)
    c.add_argument("--password", required=True)
    c.add_argument("--b-user")
    c.add_argument("--b-password")
    a = ap.parse_args()
    return fill(a) if a.cmd == "fill" else compare(a)


if __name__ == "__main__":
    sys.exit(main() or 0)
