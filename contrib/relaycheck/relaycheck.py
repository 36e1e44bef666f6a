#!/usr/bin/env python3
"""relaycheck.py: probe a running StrataMail for open relaying and SMTP
smuggling, and print one verdict per case.

    relaycheck.py HOST:PORT --domain OURS --user USER@OURS [--starttls]

OURS is a domain the server accepts mail for (in mode both or local) and
USER one of its mailboxes. Every case opens its own SMTP session:

- relay cases send one RCPT and expect "554 5.7.1" for any address whose
  mail would leave for somewhere other than our domain's primary
  (an unknown user of ours: "550 5.1.1");
- smuggling cases send a message whose body hides a second transaction
  behind a false end-of-data marker and expect the whole message refused
  with 5xx, one reply only, and the session still in step afterwards.

With --starttls every case runs inside TLS (STARTTLS, certificate not
checked), and one more case pipelines a whole transaction in clear text
behind STARTTLS: none of it may run, and EHLO must be required again.

Exits 1 if any case fails. Talk only to servers you run yourself.
"""
import argparse
import socket
import ssl
import sys

STARTTLS = False  # set by --starttls


class Session:
    def __init__(self, addr, timeout=10, tls=None):
        host, port = addr.rsplit(":", 1)
        self.sock = socket.create_connection((host, int(port)), timeout)
        self.buf = b""
        self.reply()  # banner
        if STARTTLS if tls is None else tls:
            self.cmd("EHLO relaycheck.test")
            r = self.cmd("STARTTLS")
            if not r.startswith("220"):
                raise ConnectionError("STARTTLS refused: " + r)
            self.start_tls()

    def start_tls(self):
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        self.sock = ctx.wrap_socket(self.sock)
        self.buf = b""

    def reply(self):
        lines = []
        while True:
            while b"\r\n" not in self.buf:
                chunk = self.sock.recv(4096)
                if not chunk:
                    raise ConnectionError("connection closed")
                self.buf += chunk
            line, self.buf = self.buf.split(b"\r\n", 1)
            lines.append(line.decode("utf-8", "replace"))
            if len(line) < 4 or line[3:4] != b"-":
                return lines[-1]

    def send(self, raw):
        self.sock.sendall(raw)

    def cmd(self, line):
        self.send(line.encode() + b"\r\n")
        return self.reply()

    def close(self):
        try:
            self.cmd("QUIT")
        except (OSError, ConnectionError):
            pass
        self.sock.close()


def relay_case(addr, rcpt):
    s = Session(addr)
    try:
        s.cmd("EHLO relaycheck.test")
        s.cmd("MAIL FROM:<probe@relaycheck.test>")
        return s.cmd("RCPT TO:" + rcpt)
    finally:
        s.close()


def smuggle_case(addr, user, end):
    s = Session(addr)
    try:
        s.cmd("EHLO relaycheck.test")
        s.cmd("MAIL FROM:<probe@relaycheck.test>")
        r = s.cmd("RCPT TO:<%s>" % user)
        if not r.startswith("250"):
            return "setup failed: RCPT " + r, False
        r = s.cmd("DATA")
        if not r.startswith("354"):
            return "setup failed: DATA " + r, False
        body = (b"Subject: relaycheck smuggling probe\r\n\r\nhello" + end +
                b"MAIL FROM:<admin@relaycheck.test>\r\n"
                b"RCPT TO:<" + user.encode() + b">\r\nDATA\r\n"
                b"Subject: smuggled\r\n\r\nsmuggled\r\n")
        s.send(body + b".\r\n")
        r = s.reply()
        noop = s.cmd("NOOP")  # one reply only: the next is NOOP's
        return "%s; then NOOP: %s" % (r, noop), r[:1] == "5" and noop.startswith("250")
    finally:
        s.close()


def starttls_injection(addr, user):
    """Plain text pipelined behind STARTTLS (CVE-2011-0411)."""
    s = Session(addr, tls=False)
    try:
        s.cmd("EHLO relaycheck.test")
        s.send(b"STARTTLS\r\nMAIL FROM:<injected@relaycheck.test>\r\n"
               b"RCPT TO:<" + user.encode() + b">\r\nDATA\r\n"
               b"Subject: injected\r\n\r\ninjected\r\n.\r\n")
        r = s.reply()
        if not r.startswith("220"):
            return "STARTTLS: " + r, False
        s.start_tls()
        rcpt = s.cmd("RCPT TO:<%s>" % user)   # no MAIL ran
        mail = s.cmd("MAIL FROM:<probe@relaycheck.test>")  # no EHLO yet
        ok = rcpt[:1] == "5" and mail[:1] == "5"
        return "in TLS: RCPT %s; MAIL %s" % (rcpt, mail), ok
    finally:
        s.close()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("server", help="HOST:PORT of the SMTP listener")
    ap.add_argument("--domain", required=True)
    ap.add_argument("--user", required=True)
    ap.add_argument("--starttls", action="store_true",
                    help="run every case inside STARTTLS")
    a = ap.parse_args()
    global STARTTLS
    STARTTLS = a.starttls
    d = a.domain
    relay = [
        ("foreign domain", "<victim@elsewhere.test>"),
        ("percent hack", "<victim%%elsewhere.test@%s>" % d),
        ("source route", "<@%s:victim@elsewhere.test>" % d),
        ("quoted local part hiding @", '<"victim@elsewhere.test"@%s>' % d),
        ("bang path", "<elsewhere.test!victim@%s>" % d),
        ("our domain as a subdomain", "<victim@%s.elsewhere.test>" % d),
        ("foreign domain with trailing dot", "<victim@elsewhere.test.>"),
        ("unknown user of ours", "<no-such-user-xyz@%s>" % d, "550 5.1.1"),
        ("no angle brackets, foreign", "victim@elsewhere.test"),
    ]
    fails = 0
    for name, rcpt, *want in relay:
        want = want[0] if want else "554 5.7.1"
        try:
            r = relay_case(a.server, rcpt)
            ok = r.startswith(want)
        except (OSError, ConnectionError) as e:
            r, ok = "error: %s" % e, False
        fails += not ok
        print("%s relay  %-36s RCPT %s -> %s" % ("PASS" if ok else "FAIL", name, rcpt, r))
    # Our own user, in any case, must still be accepted.
    r = relay_case(a.server, "<%s>" % a.user.upper())
    ok = r.startswith("250")
    fails += not ok
    print("%s relay  %-36s RCPT <%s> -> %s" % ("PASS" if ok else "FAIL",
          "our user, upper case (accepted)", a.user.upper(), r))

    for name, end in [("LF.LF", b"\n.\n"), ("CR.CR", b"\r.\r"),
                      ("CRLF.LF", b"\r\n.\n"), ("LF.CRLF", b"\n.\r\n"),
                      ("CR.CRLF", b"\r.\r\n"), ("CRLF.CR", b"\r\n.\r"),
                      ("CRLF.CRCRLF", b"\r\n.\r\r\n")]:
        try:
            r, ok = smuggle_case(a.server, a.user, end)
        except (OSError, ConnectionError) as e:
            r, ok = "error: %s" % e, False
        fails += not ok
        print("%s smuggle %-35s -> %s" % ("PASS" if ok else "FAIL", name, r))
    if a.starttls:
        try:
            r, ok = starttls_injection(a.server, a.user)
        except (OSError, ConnectionError, ssl.SSLError) as e:
            r, ok = "error: %s" % e, False
        fails += not ok
        print("%s inject %-36s -> %s" % ("PASS" if ok else "FAIL",
              "pipelined behind STARTTLS", r))
    print("%s: %d case(s) failed" % ("FAIL" if fails else "PASS", fails))
    return 1 if fails else 0


if __name__ == "__main__":
    sys.exit(main())
