#!/usr/bin/env python3
"""Seed mail for contrib/e2e/roundcube.sh over SMTP (127.0.0.1 only).

seed.py --smtp HOST:PORT --rcpt ADDR --out DIR [--only NAME]

Sends, oldest first and a second apart (so "newest first" is the reverse
order): a plain message, an HTML one, a multipart one with a binary
attachment, one with alternative parts and an inline image, one with a
message attached (message/rfc822) and one with a German and Greek
subject and body, each encoded. Writes DIR/attachment.bin (the attachment's bytes) and
DIR/seeded.json (name, subject, sender, Message-ID of each message, in
send order).
--only NAME sends one extra message named NAME (the "live" delivery).
"""

import argparse
import json
import os
import random
import smtplib
import struct
import time
import zlib
from email.message import EmailMessage
from email.utils import formatdate, make_msgid

SENDER = ("Bob Example", "bob@example.test")


def base(name, subject, rcpt, sender=SENDER):
    m = EmailMessage()
    m["From"] = f"{sender[0]} <{sender[1]}>"
    m["To"] = rcpt
    m["Subject"] = subject
    m["Date"] = formatdate(localtime=False)
    m["Message-ID"] = make_msgid(name, "example.test")
    return m


def plain(rcpt, _):
    m = base("plain", "Plain status report", rcpt,
             ("Carol Sender", "carol@partner.test"))
    m.set_content("Hello Alice,\n\nthe zucchini shipment arrived.\n\nCarol\n")
    return m


def html(rcpt, _):
    m = base("html", "HTML newsletter", rcpt)
    m.set_content("<html><body><h1>Outage update</h1>"
                  "<p>Our <b>pineapple</b> service is back soon.</p>"
                  "</body></html>\n", subtype="html")
    return m


def attachment(rcpt, out):
    m = base("attach", "Quarterly report attached", rcpt)
    m.set_content("The report is attached.\n")
    data = random.Random(3).randbytes(4321)
    with open(os.path.join(out, "attachment.bin"), "wb") as f:
        f.write(data)
    m.add_attachment(data, maintype="application", subtype="octet-stream",
                     filename="report.bin")
    return m


def nonascii(rcpt, _):
    m = base("greek", "Grüße aus München, καλημέρα", rcpt,
             ("Δήμητρα Παπαδοπούλου", "dimitra@partner.test"))
    m.set_content("Liebe Alice,\n\ndie Straßenbahn fährt wieder.\n"
                  "Καλημέρα από την Αθήνα.\n")
    return m


def png(width, height, rgb):
    """A one-colour PNG image, made here so that no file is needed."""
    def chunk(kind, data):
        body = kind + data
        return (struct.pack(">I", len(data)) + body +
                struct.pack(">I", zlib.crc32(body)))
    row = b"\x00" + bytes(rgb) * width
    return (b"\x89PNG\r\n\x1a\n" +
            chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2,
                                       0, 0, 0)) +
            chunk(b"IDAT", zlib.compress(row * height)) +
            chunk(b"IEND", b""))


def alternative(rcpt, _):
    """mixed(alternative(plain, related(html, inline image)), pdf-ish)."""
    m = base("alt", "Alternative parts with an inline image", rcpt)
    m.set_content("Plain version: the kiwi crate.\n")
    m.add_alternative("<html><body><p>HTML version: the <b>kiwi</b> "
                      "crate.</p><img src=\"cid:logo@example.test\" "
                      "alt=\"logo\"></body></html>\n", subtype="html")
    html = m.get_payload()[1]
    html.add_related(png(24, 16, (200, 30, 30)), maintype="image",
                     subtype="png", cid="<logo@example.test>",
                     filename="logo.png", disposition="inline")
    m.add_attachment(b"%PDF-1.4 not really\n", maintype="application",
                     subtype="pdf", filename="notes.pdf")
    return m


def forwarded(rcpt, _):
    """A message with another message attached (message/rfc822)."""
    inner = base("inner", "Inner message about papaya", rcpt,
                 ("Eve Inner", "eve@partner.test"))
    inner.set_content("The papaya harvest is early this year.\n")
    m = base("fwd", "Forwarded message inside", rcpt)
    m.set_content("See the attached message.\n")
    m.add_attachment(inner)
    return m


def live(rcpt, _):
    m = base("live", "Delivered while you read", rcpt)
    m.set_content("This one arrived during the session.\n")
    return m


SEED = [("plain", plain), ("html", html), ("attachment", attachment),
        ("alternative", alternative), ("forwarded", forwarded),
        ("nonascii", nonascii)]
EXTRA = {"live": live}


def send(smtp, rcpt, msg):
    host, port = smtp.rsplit(":", 1)
    with smtplib.SMTP(host, int(port), local_hostname="seed.test") as s:
        s.send_message(msg, to_addrs=[rcpt])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--smtp", required=True)
    ap.add_argument("--rcpt", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--only")
    a = ap.parse_args()
    if a.only:
        send(a.smtp, a.rcpt, EXTRA[a.only](a.rcpt, a.out))
        print(f"seed: sent {a.only}")
        return
    seeded = []
    for i, (name, make) in enumerate(SEED):
        if i:
            time.sleep(1.1)  # distinct Date headers, one second apart
        m = make(a.rcpt, a.out)
        send(a.smtp, a.rcpt, m)
        seeded.append({"name": name, "subject": str(m["Subject"]),
                       "from": str(m["From"]),
                       "message_id": str(m["Message-ID"])})
        print(f"seed: sent {name}: {m['Subject']}")
    with open(os.path.join(a.out, "seeded.json"), "w") as f:
        json.dump(seeded, f, ensure_ascii=False, indent=1)


if __name__ == "__main__":
    main()
