"""Fill the test user's mailboxes for the SORT checks.

INBOX: N varied messages over SMTP (seeded, so every run sends the same):
subjects with Re:/Fwd:/blobs/(fwd)/[fwd: ...]/encoded words/raw UTF-8,
Date fields valid, obsolete, zoneless, pre-1900, invalid or missing,
quoted local parts, empty To/Cc; every 50th body holds lines a naive
rewriter would touch ("* SEARCH 1 2", "* CAPABILITY IMAP4rev1", "{5}").
Ctl: the same messages APPENDed with chosen INTERNALDATEs (many exact
ties), so ARRIVAL and the Date fallback are checkable to the second.
Scratch: an empty folder for APPEND tests.

usage: fill.py N
"""
import imaplib
import random
import smtplib
import sys

from imapraw import PASS, SMTP_PORT, IMAP_PORT, USER

SUBJECTS = ["hello", "Re: hello", "RE: Re: hello", "Fwd: hello", "[list] Re: hello",
            "hello (fwd)", "[fwd: hello]", "Re: [fwd: hello] (fwd)", "  spaced   out  ", "",
            "[blob]", "[a][b] re: [c] fw: zeta", "=?UTF-8?B?w7xiZXI=?=",
            "=?ISO-8859-1?Q?=E4pfel?=", "Zeta", "apple", "Apple", "banana",
            "re:re:re: banana", "Fw: Re: apple", "[x]", "Re:", "Fwd:[y] z",
            "=?UTF-8?Q?Re=3A_encoded?=", "re : a leader too", "[fwd: [fwd: nested]]",
            "\u00c4 umlaut raw"]
LOCALS = ["alice", "Bob", "carol", "dave", "ZED", "amy", "bob", "\"quoted local\"", "x.y", ""]
DATES = ["Mon, 01 Jan 2024 10:00:00 +0000", "Tue, 02 Jan 2024 10:00:00 -0500",
         "2 Jan 2024 16:00:00 +0100", "Wed, 03 Jan 2024 10:00:00 GMT",
         "Thu, 4 Jan 2024 10:00 +0000", "garbage date", None,
         "Fri, 05 Jan 2024 10:00:00", "Sat, 06 Jan 1899 10:00:00 +0000",
         "Sun, 07 Jan 2024 25:00:00 +0000", "Mon, 01 Jan 2024 10:00:00 +0000 (UTC)",
         "Mon,  1 Jan 2024 09:00:00 -0100", "01 Jan 24 10:00:00 +0000",
         "Mon, 01 Jan 2024 10:00:00 EST"]


def address(r, empty_ok=True):
    local = r.choice(LOCALS)
    if not local:
        return None if empty_ok else "nobody@x.test"
    name = r.choice(["", "Zoe Name ", "\"Aaron, X\" "])
    dom = r.choice(["a.test", "b.test"])
    return f"{name}<{local}@{dom}>" if name else f"{local}@b.test"


def message(r, i):
    h = ["From: " + address(r, False)]
    to = address(r)
    if to:
        h.append("To: " + to + (", second@x.test" if r.random() < .3 else ""))
    cc = address(r)
    if cc and r.random() < .5:
        h.append("Cc: " + cc)
    d = r.choice(DATES)
    if d:
        h.append("Date: " + d)
    subj = r.choice(SUBJECTS)
    if r.random() < .9:
        h.append("Subject: " + subj)
    h += [f"Message-ID: <gen{i}@gen.test>", "MIME-Version: 1.0",
          "Content-Type: text/plain; charset=utf-8"]
    body = f"message {i}\r\n" + "x" * r.randrange(0, 3000) + "\r\n"
    if i % 50 == 7:
        body += ("* SEARCH 1 2\r\n* CAPABILITY IMAP4rev1\r\n* SORT 3\r\n"
                 "a OK SEARCH completed\r\n{5}\r\n")
    return ("\r\n".join(h) + "\r\n\r\n" + body).encode()


def main():
    n = int(sys.argv[1])
    r = random.Random(5256)
    s = smtplib.SMTP("127.0.0.1", SMTP_PORT)
    for i in range(n):
        s.sendmail("gen@gen.test", [USER], message(r, i))
    s.quit()
    m = imaplib.IMAP4("127.0.0.1", IMAP_PORT)
    m.login(USER, PASS)
    m.select("INBOX", readonly=True)
    _, data = m.fetch("1:*", "(BODY.PEEK[])")
    bodies = [it[1] for it in data if isinstance(it, tuple)]
    for box in ("Ctl", "Scratch"):
        m.create(box)
    r = random.Random(7)
    base = 1704200000
    for b in bodies:
        t = base + r.choice([0, 3600, 7200, 86400, r.randrange(0, 200000)])
        typ, d = m.append("Ctl", None, imaplib.Time2Internaldate(t), b)
        assert typ == "OK", d
    m.logout()
    print(f"fill: {n} messages in INBOX and Ctl")


if __name__ == "__main__":
    main()
