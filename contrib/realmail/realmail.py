#!/usr/bin/env python3
"""Helper of contrib/realmail.sh: real-world messages through StrataMail.

Standard library only. Two phases, run by realmail.sh:

  realmail.py send --smtp HOST:PORT --imap HOST:PORT --user U --password P
                   --rcpt R --work DIR [--swaks FILE ...] FILE ...
      Sends each FILE (converted to CRLF line endings) with smtplib, and
      each --swaks FILE with the swaks command, to R; then reads the
      mailbox back over IMAP (LOGIN, SELECT INBOX, UID FETCH BODY.PEEK[])
      and finds every sent message in it, byte for byte, less the Received
      header field the server prepends; it also notes whether the UIDs
      follow the order the messages were accepted in. What swaks sends is
      first captured from a one-shot SMTP server on 127.0.0.1, since swaks
      rewrites its input. Writes what was accepted to DIR/sent/ and the
      verdicts to DIR/results.json.

  realmail.py relay --work DIR --sink SINKDIR [--check NAME=ok|REASON ...]
      Compares the messages the stand-in primary (stratamail sink -dir)
      received with what was sent (again less our Received header), prints
      one verdict line per message and the summary "N passed, M failed,
      K skipped" (the UID-order check and each --check count as one more
      line), and exits 1 on any failure.

A message passes when the server accepted it and both its IMAP copy and
its relayed copy equal what was sent. A message the client cannot send
(or, for over-long lines only, that the server refuses with 5xx) is
recorded as skipped with the reason.
"""

import argparse
import hashlib
import imaplib
import json
import os
import re
import smtplib
import socket
import subprocess
import sys
import threading

SENDER = "realmail@elsewhere.test"


def crlf(data):
    """Returns data with every line ending (LF or CRLF) as CRLF."""
    return data.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")


def strip_received(stored):
    """Removes the first header field, which must be our Received field.

    Returns (rest, error); error is None when the first field is a
    Received field (possibly folded over several lines)."""
    if not stored.startswith(b"Received: "):
        return stored, "stored copy does not start with 'Received: ' " \
            "but with %r" % stored[:40]
    i = stored.find(b"\r\n")
    while i >= 0 and stored[i + 2:i + 3] in (b" ", b"\t"):
        i = stored.find(b"\r\n", i + 2)
    if i < 0:
        return b"", "Received field never ends"
    return stored[i + 2:], None


def first_difference(a, b):
    """Describes where bytes a (expected) and b (got) differ."""
    n = min(len(a), len(b))
    i = next((k for k in range(n) if a[k] != b[k]), n)
    lo = max(0, i - 20)
    return "differs at byte %d of %d (got %d): expected %r, got %r" % (
        i, len(a), len(b), a[lo:i + 30], b[lo:i + 30])


def host_port(s):
    host, _, port = s.rpartition(":")
    return host, int(port)


def longest_line(data):
    return max((len(l) for l in data.split(b"\r\n")), default=0)


class Sender:
    """One smtplib connection, reopened after any error."""

    def __init__(self, addr):
        self.addr = addr
        self.conn = None

    def send(self, rcpt, data):
        if self.conn is None:
            self.conn = smtplib.SMTP(*host_port(self.addr), timeout=60)
            self.conn.ehlo("realmail.localhost")
        opts = []
        if any(c >= 0x80 for c in data) and self.conn.has_extn("8bitmime"):
            opts.append("BODY=8BITMIME")
        try:
            self.conn.sendmail(SENDER, [rcpt], data, mail_options=opts)
        except (smtplib.SMTPException, OSError):
            self.close()
            raise

    def close(self):
        if self.conn is not None:
            try:
                self.conn.quit()
            except (smtplib.SMTPException, OSError):
                pass
            self.conn = None


def refusal(err):
    """Returns (code, text) of an SMTP refusal, or (None, str(err))."""
    if isinstance(err, smtplib.SMTPRecipientsRefused):
        code, msg = next(iter(err.recipients.values()))
        return code, msg.decode(errors="replace")
    if isinstance(err, smtplib.SMTPResponseException):
        return err.smtp_code, err.smtp_error.decode(errors="replace") \
            if isinstance(err.smtp_error, bytes) else str(err.smtp_error)
    return None, "%s: %s" % (type(err).__name__, err)


SWAKS = ["swaks", "--from", SENDER, "--helo", "realmail.localhost"]


def run_swaks(server, path, rcpt):
    """Sends path with swaks; returns None or what went wrong."""
    p = subprocess.run(SWAKS + ["--server", server, "--to", rcpt,
                                "--data", path],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       timeout=120)
    if p.returncode == 0:
        return None
    out = p.stdout.decode(errors="replace").strip().splitlines()
    return "swaks exit %d: %s" % (p.returncode, out[-1] if out else "")


def swaks_capture(path, rcpt):
    """Runs swaks against a one-shot SMTP server on 127.0.0.1 and returns
    (the message data it sent, with dot-stuffing undone; error)."""
    ln = socket.socket()
    ln.bind(("127.0.0.1", 0))
    ln.listen(1)
    ln.settimeout(60)
    got = []

    def serve():
        try:
            c, _ = ln.accept()
        except OSError:
            return
        with c, c.makefile("rwb") as f:
            def reply(line):
                f.write(line + b"\r\n")
                f.flush()
            reply(b"220 capture")
            while True:
                line = f.readline()
                verb = line[:4].upper()
                if not line:
                    return
                if verb == b"EHLO":
                    reply(b"250-capture\r\n250 8BITMIME")
                elif verb == b"DATA":
                    reply(b"354 go on")
                    buf = []
                    while True:
                        line = f.readline()
                        if line in (b".\r\n", b""):
                            break
                        buf.append(line[1:] if line.startswith(b".")
                                   else line)
                    got.append(b"".join(buf))
                    reply(b"250 captured")
                elif verb == b"QUIT":
                    reply(b"221 bye")
                    return
                else:
                    reply(b"250 ok")

    t = threading.Thread(target=serve)
    t.start()
    try:
        err = run_swaks("127.0.0.1:%d" % ln.getsockname()[1], path, rcpt)
    finally:
        t.join(60)
        ln.close()
    if err is None and len(got) != 1:
        err = "capturing what swaks sends failed"
    return (got[0] if got else b""), err


def send_phase(args):
    sentdir = os.path.join(args.work, "sent")
    os.makedirs(sentdir, exist_ok=True)
    jobs = [("smtplib", f) for f in args.files] + \
        [("swaks", f) for f in args.swaks or []]
    results = []  # one dict per message, in sending order
    smtp = Sender(args.smtp)
    for method, path in jobs:
        name = os.path.join(os.path.basename(os.path.dirname(path)),
                            os.path.basename(path))
        with open(path, "rb") as fh:
            data = crlf(fh.read())
        r = {"name": name, "method": method, "status": "accepted"}
        if method == "smtplib":
            # smtplib dot-stuffs and ends the data with CRLF when it
            # does not already, so this is what the server must store.
            sent = data if data.endswith(b"\r\n") else data + b"\r\n"
            try:
                smtp.send(args.rcpt, data)
            except (smtplib.SMTPException, OSError) as e:
                code, text = refusal(e)
                r["status"] = "skipped" if code is not None and \
                    code >= 500 and longest_line(sent) > 998 else "failed"
                r["reason"] = "smtplib: %s %s" % (code or "", text)
                if r["status"] == "skipped":
                    r["reason"] += " (has a %d-octet line)" % \
                        longest_line(sent)
        else:
            # swaks rewrites the data it is given (line endings, %TOKENS%,
            # an extra CRLF at the end, a blank line after headers with no
            # body), so what it puts on the wire is captured first from a
            # stand-in server; that is what StrataMail must store.
            tmpfile = os.path.join(args.work, "swaks-input.eml")
            with open(tmpfile, "wb") as fh:
                fh.write(data)
            sent, err = swaks_capture(tmpfile, args.rcpt)
            if err is None:
                err = run_swaks(args.smtp, tmpfile, args.rcpt)
            if err is not None:
                r["status"] = "failed"
                r["reason"] = err
        if r["status"] == "accepted":
            r["file"] = os.path.join(sentdir, "%04d.eml" % len(results))
            with open(r["file"], "wb") as fh:
                fh.write(sent)
        results.append(r)
    smtp.close()

    accepted = [r for r in results if r["status"] == "accepted"]
    uid_order = check_imap(args, accepted)
    with open(os.path.join(args.work, "results.json"), "w") as fh:
        json.dump({"messages": results, "uid_order": uid_order}, fh,
                  indent=1)
    n_acc = len(accepted)
    print("sent %d messages: %d accepted, %d skipped, %d failed" % (
        len(results), n_acc,
        sum(r["status"] == "skipped" for r in results),
        sum(r["status"] == "failed" for r in results)))
    # realmail.sh reads the number of accepted messages from this line.
    print("accepted=%d" % n_acc)


def fetch_inbox(args):
    """Returns [(uid, message bytes)] of INBOX, in UID order."""
    m = imaplib.IMAP4(*host_port(args.imap), timeout=60)
    m.login(args.user, args.password)
    typ, data = m.select("INBOX")
    if typ != "OK":
        raise imaplib.IMAP4.error("SELECT INBOX: %s %r" % (typ, data))
    typ, data = m.uid("SEARCH", None, "ALL")
    if typ != "OK":
        raise imaplib.IMAP4.error("UID SEARCH ALL: %s %r" % (typ, data))
    stored = []
    for uid in sorted(int(u) for u in data[0].split()):
        typ, data = m.uid("FETCH", str(uid), "(BODY.PEEK[])")
        body = None
        for item in data:
            if isinstance(item, tuple) and \
                    re.search(rb"\bUID %d\b" % uid, item[0]):
                body = item[1]
        if typ != "OK" or body is None:
            raise imaplib.IMAP4.error(
                "UID FETCH %d (BODY.PEEK[]): %s %r" % (uid, typ, data))
        stored.append((uid, body))
    m.logout()
    return stored


def check_imap(args, accepted):
    """Reads INBOX over IMAP and finds each accepted message in it by
    content; sets r["imap"] to "ok" (and r["uid"]) or to what is wrong.
    Returns "ok" when the UIDs follow the order the messages were
    accepted in (one after the other, each after the previous 250),
    else a description of the first inversion."""
    try:
        stored = fetch_inbox(args)
    except (imaplib.IMAP4.error, OSError) as e:
        for r in accepted:
            r["imap"] = "IMAP failed: %s" % e
        return "IMAP failed: %s" % e
    if len(stored) != len(accepted):
        print("IMAP: INBOX holds %d messages, %d were accepted" % (
            len(stored), len(accepted)))
    unmatched = {}  # uid -> (content less Received, error)
    by_content = {}
    for uid, body in stored:
        rest, err = strip_received(body)
        unmatched[uid] = (rest, err)
        if err is None:
            by_content.setdefault(hashlib.sha256(rest).digest(),
                                  []).append(uid)
    for r in accepted:
        with open(r["file"], "rb") as fh:
            sent = fh.read()
        uids = by_content.get(hashlib.sha256(sent).digest())
        if uids:
            r["imap"] = "ok"
            r["uid"] = uids.pop(0)
            del unmatched[r["uid"]]
    for r in accepted:
        if r.get("imap") == "ok":
            continue
        with open(r["file"], "rb") as fh:
            sent = fh.read()
        if not unmatched:
            r["imap"] = "not in INBOX"
            continue
        # Show the difference from the unmatched stored message that
        # agrees with it longest.
        def common(uid):
            rest = unmatched[uid][0]
            n = min(len(rest), len(sent))
            return next((k for k in range(n) if rest[k] != sent[k]), n)
        uid = max(unmatched, key=common)
        rest, err = unmatched[uid]
        r["imap"] = "no stored copy equals it; closest is UID %d: %s" % (
            uid, err or first_difference(sent, rest))
    order = [(r["uid"], r["name"]) for r in accepted if "uid" in r]
    for (u1, n1), (u2, n2) in zip(order, order[1:]):
        if u2 <= u1:
            return "%s was accepted after %s but has UID %d < %d " \
                "(%d of %d messages out of order)" % (
                    n2, n1, u2, u1,
                    sum(b[0] < a[0] for a, b in zip(order, order[1:])),
                    len(order))
    return "ok"


def relay_phase(args):
    with open(os.path.join(args.work, "results.json")) as fh:
        saved = json.load(fh)
    results = saved["messages"]
    sink = {}
    sink_bad = []
    names = sorted(os.listdir(args.sink)) if os.path.isdir(args.sink) else []
    for n in names:
        with open(os.path.join(args.sink, n), "rb") as fh:
            body = fh.read()
        rest, err = strip_received(body)
        if err:
            sink_bad.append("%s: %s" % (n, err))
        sink.setdefault(hashlib.sha256(rest).digest(), []).append(n)
    passed = failed = skipped = 0
    for r in results:
        label = "%-7s %s" % (r["method"], r["name"])
        if r["status"] != "accepted":
            if r["status"] == "skipped":
                skipped += 1
                print("SKIP %s: %s" % (label, r["reason"]))
            else:
                failed += 1
                print("FAIL %s: not accepted: %s" % (label, r["reason"]))
            continue
        with open(r["file"], "rb") as fh:
            sent = fh.read()
        got = sink.get(hashlib.sha256(sent).digest())
        relay = "ok" if got else "no relayed copy equals the sent message"
        if got:
            got.pop(0)
        if r["imap"] == "ok" and relay == "ok":
            passed += 1
            print("PASS %s (%d bytes, IMAP UID %d, relayed)" % (
                label, len(sent), r["uid"]))
        else:
            failed += 1
            why = []
            if r["imap"] != "ok":
                why.append("IMAP: " + r["imap"])
            if relay != "ok":
                why.append("relay: " + relay)
            print("FAIL %s: %s" % (label, "; ".join(why)))
    extra = [n for v in sink.values() for n in v]
    if extra:
        print("note: %d sink file(s) match no sent message: %s" % (
            len(extra), " ".join(sorted(extra)[:10])))
    for b in sink_bad:
        print("note: sink file %s" % b)
    checks = ["imap-uids-in-arrival-order=" + saved["uid_order"]]
    for c in checks + (args.check or []):
        name, _, verdict = c.partition("=")
        if verdict == "ok":
            passed += 1
            print("PASS check %s" % name)
        else:
            failed += 1
            print("FAIL check %s: %s" % (name, verdict))
    print("%d passed, %d failed, %d skipped" % (passed, failed, skipped))
    return 1 if failed else 0


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="phase", required=True)
    s = sub.add_parser("send")
    s.add_argument("--smtp", required=True)
    s.add_argument("--imap", required=True)
    s.add_argument("--user", required=True)
    s.add_argument("--password", required=True)
    s.add_argument("--rcpt", required=True)
    s.add_argument("--work", required=True)
    s.add_argument("--swaks", action="append")
    s.add_argument("files", nargs="*")
    r = sub.add_parser("relay")
    r.add_argument("--work", required=True)
    r.add_argument("--sink", required=True)
    r.add_argument("--check", action="append")
    args = ap.parse_args()
    if args.phase == "send":
        send_phase(args)
        return 0
    return relay_phase(args)


if __name__ == "__main__":
    sys.exit(main())
