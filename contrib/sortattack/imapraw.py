"""Raw-socket helpers for the SORT attack scripts (contrib/sortattack).

Settings come from the environment that run.sh exports:
SA_IMAP_PORT, SA_SMTP_PORT, SA_USER, SA_PASS, SA_MAILDIR (the user's
Maildir on disk) and SA_PID (the server's PID, for its RSS).
Everything talks to 127.0.0.1 only.
"""
import os
import re
import socket
import time

IMAP_PORT = int(os.environ.get("SA_IMAP_PORT", "1143"))
SMTP_PORT = int(os.environ.get("SA_SMTP_PORT", "2525"))
USER = os.environ.get("SA_USER", "alice@example.test")
PASS = os.environ.get("SA_PASS", "")
MAILDIR = os.environ.get("SA_MAILDIR", "")
PID = int(os.environ.get("SA_PID", "0"))


def conn(port=None):
    """A socket to the IMAP server, its greeting read."""
    s = socket.create_connection(("127.0.0.1", port or IMAP_PORT))
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    recv_until(s, b"\r\n")
    return s


def recv_until(s, want, t=5.0):
    """Bytes read until want appears (or t seconds pass, or EOF)."""
    s.settimeout(t)
    buf = b""
    end = time.time() + t
    while want not in buf and time.time() < end:
        try:
            d = s.recv(65536)
        except (socket.timeout, ConnectionResetError):
            break
        if not d:
            buf += b"<EOF>"
            break
        buf += d
    return buf


def tagged(s, tag, t=5.0):
    """Bytes read until the tagged reply of tag is complete."""
    buf = b""
    pat = re.compile(rb"(^|\n)" + re.escape(tag) + rb" (OK|NO|BAD)[^\n]*\n")
    end = time.time() + t
    while not pat.search(buf) and time.time() < end:
        more = recv_until(s, b"\n", max(0.1, end - time.time()))
        if not more or more.endswith(b"<EOF>"):
            return buf + more
        buf += more
    return buf


def cmd(s, tag, line, t=5.0):
    s.sendall(tag + b" " + line + b"\r\n")
    return tagged(s, tag, t)


def login(s, box=None, readonly=False):
    r = cmd(s, b"L", b"LOGIN " + USER.encode() + b" " + PASS.encode())
    assert b"L OK" in r, r
    if box:
        verb = b"EXAMINE " if readonly else b"SELECT "
        r = cmd(s, b"S", verb + box.encode())
        assert b"S OK" in r, r
    return s


def session(box=None, readonly=False):
    return login(conn(), box, readonly)


def rss_kb():
    if not PID:
        return 0
    with open(f"/proc/{PID}/status") as f:
        for line in f:
            if line.startswith("VmRSS"):
                return int(line.split()[1])
    return 0


def nums(resp, word):
    """The numbers of the first "* WORD ..." line of resp, None if none."""
    m = re.search(rb"(?:^|\n)\* " + word + rb"((?: \d+)*)\r\n", resp)
    return None if m is None else [int(x) for x in m.group(1).split()]
