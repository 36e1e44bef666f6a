"""An independent model of RFC 5256 sort keys, to check the server's SORT.

base_subject follows RFC 5256 section 2.1 steps (1)-(7); mailbox is the
addr-mailbox of the first address, quotes removed as in an ENVELOPE;
date_key is the Date field in UTC, or INTERNALDATE when the field is
missing or unparsable (years before 1900 count as unparsable, as in
Dovecot). Strings compare as i;ascii-casemap: octets after upper-casing
ASCII letters.
"""
import calendar
import datetime
import email.header
import email.utils
import re
WSP = " \t"
def decode(v):
    out = []
    try:
        for b, cs in email.header.decode_header(v):
            if isinstance(b, bytes):
                out.append(b.decode(cs or "utf-8", "replace"))
            else:
                out.append(b)
        return "".join(out)
    except Exception:
        return v
def base_subject(v):
    s = decode(v)
    s = re.sub(r"[ \t\r\n]+", " ", s)
    blob = r"\[[^\[\]]*\][ \t]*"
    leader = re.compile(r"^(?:(?:" + blob + r")*(?:re|fwd?)[ \t]*(?:" + blob + r")?:|[ \t]+)", re.I)
    while True:
        while True:  # (2)
            t = re.sub(r"(\(fwd\)|[ \t])$", "", s, flags=re.I)
            if t == s: break
            s = t
        while True:  # (3)-(5)
            m = leader.match(s)
            if m:
                s = s[m.end():]; continue
            m = re.match(blob, s)
            if m and s[m.end():] != "":
                s = s[m.end():]; continue
            break
        if s[:5].lower() == "[fwd:" and s.endswith("]"):
            s = s[5:-1]; continue
        return ascii_upper(s)
def ascii_upper(s):
    return "".join(c.upper() if "a" <= c <= "z" else c for c in s)
def mailbox(v):
    if v is None: return ""
    v = decode(v)
    al = email.utils.getaddresses([v])
    if not al or not al[0][1]: return ""
    a = al[0][1]
    local = a.rsplit("@", 1)[0] if "@" in a else a
    if len(local) >= 2 and local[0] == '"' and local[-1] == '"':
        local = local[1:-1]
    return ascii_upper(local)
def date_key(v, internal):
    if v is None: return internal
    t = email.utils.parsedate_tz(v)
    if t is None: return internal
    try:
        if t[0] < 1900: return internal
        d = datetime.datetime(*t[:6])
    except Exception:
        return internal
    return calendar.timegm(d.timetuple()) - (t[9] or 0)
