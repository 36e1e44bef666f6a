#!/usr/bin/env python3
"""Helper of contrib/bench/imap-large.sh: a large INBOX, StrataMail
against Dovecot. Standard library only.

  imap_large.py fill --corpus DIR --maildir DIR --n N --word W
      Writes N messages into the Maildir's new/ (the corpus's *.txt files
      in order, repeated as needed; the mbox "From " line dropped, CRLF
      line endings, names as our intake makes them, with ,S=size), and
      prints "messages=N bytes=B hits=K": K is how many of them hold W
      (any case) after their header, what a BODY search must find.

  imap_large.py session --server NAME --phase PHASE --addr HOST:PORT
                        --user U --password P --mode fetch|sort|auto
                        [--search WORD | --probe] [--pid PID] --out FILE
      One IMAP session, timed command by command, appended to FILE as
      one JSON line. Without --search it is the exchange Roundcube 1.6
      (rcube_imap_generic) makes to show the first page of INBOX sorted
      by date, newest first: LOGIN, SELECT INBOX, then the index of the
      whole folder, either (mode fetch, a server without SORT)
          FETCH 1:* (UID INTERNALDATE BODY.PEEK[HEADER.FIELDS (DATE)])
      sorted here by the Date header (INTERNALDATE when it has none or
      it does not parse), or (mode sort) UID SORT (DATE) US-ASCII ALL
      (mode auto: sort if CAPABILITY lists SORT, as Roundcube decides);
      then the 50 newest with
          UID FETCH <set> (UID RFC822.SIZE FLAGS INTERNALDATE
            BODY.PEEK[HEADER.FIELDS (DATE FROM TO SUBJECT CONTENT-TYPE CC
            REPLY-TO LIST-POST DISPOSITION-NOTIFICATION-TO X-PRIORITY)])
      With --search: LOGIN, SELECT INBOX and
          UID SEARCH CHARSET UTF-8 BODY "WORD"
      With --probe: LOGIN, SELECT INBOX and single commands that split
      the list view's cost (PROBES), each timed.
      At the end of either, before LOGOUT, the server's process tree
      under PID (--pid) is read from /proc: resident memory (VmRSS,
      VmHWM) and the CPU time it used during the session.

  imap_large.py report --results FILE --n N --bytes B --word W --hits K
      Prints the table of both servers and the ratios, and how the two
      first pages differ; exits 1 when a session failed, SELECT showed
      the wrong number of messages, a search found the wrong number or
      a page did not hold 50.
"""

import argparse
import datetime
import email.utils
import json
import os
import re
import socket
import statistics
import sys
import time

PAGE = 50
INDEX_FETCH = b"FETCH 1:* (UID INTERNALDATE BODY.PEEK[HEADER.FIELDS (DATE)])"
INDEX_SORT = b"UID SORT (DATE) US-ASCII ALL"
PAGE_ITEMS = (b"(UID RFC822.SIZE FLAGS INTERNALDATE BODY.PEEK[HEADER.FIELDS "
              b"(DATE FROM TO SUBJECT CONTENT-TYPE CC REPLY-TO LIST-POST "
              b"DISPOSITION-NOTIFICATION-TO X-PRIORITY)])")
LITERAL = re.compile(rb"\{(\d+)\}\r\n$")


# --- fill -------------------------------------------------------------------

def corpus_messages(folder):
    """Returns the corpus's raw messages, in name order, as CRLF bytes."""
    paths = []
    for group in sorted(os.listdir(folder)):
        gdir = os.path.join(folder, group)
        if os.path.isdir(gdir):
            paths += [os.path.join(gdir, n) for n in sorted(os.listdir(gdir))
                      if n.endswith(".txt")]
    if not paths:
        raise SystemExit("no *.txt messages under %s" % folder)
    msgs = []
    for p in paths:
        with open(p, "rb") as fh:
            data = fh.read()
        if data.startswith(b"From "):  # the mbox separator, not a header
            data = data[data.find(b"\n") + 1:]
        data = data.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
        if not data.endswith(b"\r\n"):
            data += b"\r\n"
        msgs.append(data)
    return msgs


def body_has(msg, word):
    """Reports whether word (lower case) occurs after msg's header."""
    i = msg.find(b"\r\n\r\n")
    return i >= 0 and word in msg[i + 4:].lower()


def fill(a):
    msgs = corpus_messages(a.corpus)
    word = a.word.lower().encode()
    new = os.path.join(a.maildir, "new")
    secs, pid = int(time.time()), os.getpid()
    total = hits = 0
    for i in range(a.n):
        m = msgs[i % len(msgs)]
        name = "%d.M%06dP%dQ%07d.imapbench,S=%d" % (
            secs, i % 1000000, pid, i + 1, len(m))
        fd = os.open(os.path.join(new, name),
                     os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            os.write(fd, m)
        finally:
            os.close(fd)
        total += len(m)
        hits += body_has(m, word)
    print("messages=%d bytes=%d hits=%d corpus=%d" % (
        a.n, total, hits, len(msgs)))


# --- a minimal IMAP client ----------------------------------------------------

class IMAPError(Exception):
    pass


class Conn:
    """One IMAP connection; responses are lists of parts, alternately
    text and literal bytes, starting and ending with text."""

    def __init__(self, addr, timeout):
        host, _, port = addr.rpartition(":")
        self.sock = socket.create_connection((host, int(port)), timeout)
        self.rd = self.sock.makefile("rb", buffering=1 << 16)
        self.n = 0
        greeting = self.read_response()
        if not greeting[0].startswith(b"* OK"):
            raise IMAPError("greeting: %r" % greeting[0][:200])

    def read_response(self):
        parts = []
        while True:
            line = self.rd.readline()
            if not line:
                raise IMAPError("connection closed by the server")
            m = LITERAL.search(line)
            if m is None:
                parts.append(line)
                return parts
            parts.append(line[:m.start()])
            data = self.rd.read(int(m.group(1)))
            if len(data) != int(m.group(1)):
                raise IMAPError("connection closed inside a literal")
            parts.append(data)

    def command(self, text):
        """Sends text, returns (untagged responses, ms to the first
        response line, ms to the tagged OK)."""
        self.n += 1
        tag = b"b%d" % self.n
        t0 = time.perf_counter()
        self.sock.sendall(tag + b" " + text + b"\r\n")
        untagged, first = [], None
        while True:
            r = self.read_response()
            if first is None:
                first = ms_since(t0)
            if r[0].startswith(tag + b" "):
                if not r[0][len(tag) + 1:].startswith(b"OK"):
                    raise IMAPError("%s: %r" % (
                        text[:60].decode(errors="replace"), r[0][:300]))
                return untagged, first, ms_since(t0)
            untagged.append(r)

    def close(self):
        try:
            self.sock.sendall(b"z LOGOUT\r\n")
            self.rd.read()
        except OSError:
            pass
        self.sock.close()


def ms_since(t0):
    return (time.perf_counter() - t0) * 1000.0


def quoted(s):
    return b'"' + s.encode().replace(b"\\", b"\\\\").replace(b'"', b'\\"') + b'"'


# --- the list view --------------------------------------------------------------

def fetch_items(resp):
    """Returns (text of resp without literals, {item name: literal})."""
    text, lits = [], {}
    for i, p in enumerate(resp):
        if i % 2 == 0:
            text.append(p)
        else:
            before = resp[i - 1].rstrip().upper()
            name = before[before.rfind(b"BODY["):] if before.endswith(
                b"]") and b"BODY[" in before else b"literal %d" % i
            lits[name] = p
            text.append(b"{}")
    return b"".join(text), lits


def header_value(lit, name):
    """Returns the unfolded value of header field name in lit, or ""."""
    value, found = [], False
    for line in lit.split(b"\r\n"):
        if found and line[:1] in (b" ", b"\t"):
            value.append(line.strip())
            continue
        if found:
            break
        if line.lower().startswith(name + b":"):
            found = True
            value.append(line[len(name) + 1:].strip())
    return b" ".join(value).decode("latin-1")


def timestamp(value):
    """Parses an RFC 5322 date (a zone-less one as UTC); 0 when it does
    not parse."""
    try:
        d = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):
        return 0
    if d.tzinfo is None:
        d = d.replace(tzinfo=datetime.timezone.utc)
    try:
        return d.timestamp()
    except (ValueError, OverflowError):
        return 0


def internal_timestamp(value):
    """Parses an INTERNALDATE ("04-Dec-2026 16:42:40 +0000")."""
    try:
        return datetime.datetime.strptime(
            value.strip(), "%d-%b-%Y %H:%M:%S %z").timestamp()
    except ValueError:
        return 0


INTERNALDATE = re.compile(rb'INTERNALDATE "([^"]+)"')
UID = re.compile(rb"\bUID (\d+)")


def index_by_date(untagged):
    """Does what rcube_imap_generic::fetchHeaderIndex and index() do for
    DATE: UIDs in ascending date order (stable), Date header first."""
    dated = []
    for r in untagged:
        if not re.match(rb"\* \d+ FETCH", r[0]):
            continue
        text, lits = fetch_items(r)
        uid = UID.search(text)
        if not uid:
            continue
        ts = 0
        for name, lit in lits.items():
            if name.startswith(b"BODY[HEADER.FIELDS"):
                ts = timestamp(header_value(lit, b"date"))
        if not ts:
            m = INTERNALDATE.search(text)
            ts = internal_timestamp(m.group(1).decode()) if m else 0
        dated.append((ts, int(uid.group(1))))
    dated.sort(key=lambda x: x[0])
    return [uid for _, uid in dated]


def sorted_uids(untagged):
    for r in untagged:
        if r[0].startswith(b"* SORT"):
            return [int(x) for x in r[0][6:].split()]
    return []


def compress(uids):
    """Roundcube's compressMessageSet: sorted, ranges joined."""
    uids = sorted(uids)
    out, i = [], 0
    while i < len(uids):
        j = i
        while j + 1 < len(uids) and uids[j + 1] == uids[j] + 1:
            j += 1
        out.append(str(uids[i]) if i == j else "%d:%d" % (uids[i], uids[j]))
        i = j + 1
    return ",".join(out).encode()


def page_dates(untagged):
    """The Date header of each message in the page FETCH, sorted."""
    dates = []
    for r in untagged:
        if re.match(rb"\* \d+ FETCH", r[0]):
            _, lits = fetch_items(r)
            date = ""
            for name, lit in lits.items():
                if name.startswith(b"BODY[HEADER.FIELDS"):
                    date = header_value(lit, b"date")
            dates.append(date)
    return sorted(dates)


def exists(untagged):
    for r in untagged:
        m = re.match(rb"\* (\d+) EXISTS", r[0])
        if m:
            return int(m.group(1))
    return None


def list_view(c, mode, res):
    if mode == "fetch":
        untagged, res["index_first"], res["index"] = c.command(INDEX_FETCH)
        t0 = time.perf_counter()
        order = index_by_date(untagged)
        res["index_responses"] = len(order)
    else:
        untagged, res["index_first"], res["index"] = c.command(INDEX_SORT)
        t0 = time.perf_counter()
        order = sorted_uids(untagged)
        res["index_responses"] = len(order)
    order.reverse()  # DESC, as rcube_result_index::revert
    newest = order[:PAGE]
    res["sort"] = ms_since(t0)
    untagged, _, res["page"] = c.command(
        b"UID FETCH " + compress(newest) + b" " + PAGE_ITEMS)
    res["page_dates"] = page_dates(untagged)


# Single commands that split the list view's cost: the per-command
# fixed cost (NOOP), one response per message without reading a file
# (UID only), with an open and fstat of each file (INTERNALDATE), with
# the header parsed (the Date field), and one message by UID.
PROBES = [
    ("NOOP", b"NOOP"),
    ("FETCH 1:* (UID)", b"FETCH 1:* (UID)"),
    ("FETCH 1:* (UID FLAGS)", b"FETCH 1:* (UID FLAGS)"),
    ("FETCH 1:* (UID INTERNALDATE)", b"FETCH 1:* (UID INTERNALDATE)"),
    ("FETCH 1:* (UID BODY.PEEK[HEADER.FIELDS (DATE)])",
     b"FETCH 1:* (UID BODY.PEEK[HEADER.FIELDS (DATE)])"),
    ("UID FETCH <one> (UID FLAGS)", None),
]


def probe(c, res):
    out = []
    for label, cmd in PROBES:
        if cmd is None:
            cmd = b"UID FETCH %d (UID FLAGS)" % first_uid(c)
        _, _, took = c.command(cmd)
        out.append([label, took])
    res["probes"] = out


def first_uid(c):
    untagged, _, _ = c.command(b"FETCH 1 (UID)")
    for r in untagged:
        m = UID.search(r[0])
        if m:
            return int(m.group(1))
    raise IMAPError("FETCH 1 (UID) gave no UID")


def search(c, word, res):
    untagged, _, res["search"] = c.command(
        b"UID SEARCH CHARSET UTF-8 BODY " + quoted(word))
    hits = 0
    for r in untagged:
        if r[0].startswith(b"* SEARCH"):
            hits += len(r[0][8:].split())
    res["search_hits"] = hits


# --- the server's processes ----------------------------------------------------------

def proc_tree(root):
    """Returns root and its descendants: {pid: (comm, utime+stime ticks)}."""
    info, children = {}, {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % name) as fh:
                stat = fh.read()
        except OSError:
            continue
        comm = stat[stat.index("(") + 1:stat.rindex(")")]
        f = stat[stat.rindex(")") + 2:].split()
        pid, ppid = int(name), int(f[1])
        info[pid] = (comm, int(f[11]) + int(f[12]))
        children.setdefault(ppid, []).append(pid)
    tree, todo = {}, [root]
    while todo:
        p = todo.pop()
        if p in info:
            tree[p] = info[p]
            todo += children.get(p, [])
    return tree


def status_kib(pid, key):
    try:
        with open("/proc/%d/status" % pid) as fh:
            for line in fh:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def sample_server(pid, before, res):
    """Adds the tree's memory and its CPU time since before to res."""
    tree = proc_tree(pid)
    tick = os.sysconf("SC_CLK_TCK")
    cpu = sum(t - before.get(p, (None, 0))[1] for p, (_, t) in tree.items())
    res["server_cpu"] = cpu * 1000.0 / tick
    res["rss_kib"] = sum(status_kib(p, "VmRSS") for p in tree)
    res["hwm_kib"] = sum(status_kib(p, "VmHWM") for p in tree)
    res["processes"] = len(tree)
    biggest = max(tree, key=lambda p: status_kib(p, "VmRSS"), default=pid)
    res["biggest"] = "%s %d KiB" % (tree.get(biggest, ("?", 0))[0],
                                    status_kib(biggest, "VmRSS"))


def session(a):
    res = {"server": a.server, "phase": a.phase}
    before = proc_tree(a.pid) if a.pid else {}
    t0 = time.perf_counter()
    c = None
    try:
        c = Conn(a.addr, a.timeout)
        _, _, res["login"] = c.command(
            b"LOGIN " + quoted(a.user) + b" " + quoted(a.password))
        untagged, _, res["select"] = c.command(b"SELECT INBOX")
        res["exists"] = exists(untagged)
        if a.probe:
            probe(c, res)
        elif a.search:
            search(c, a.search, res)
        else:
            mode = a.mode
            if mode == "auto":  # as Roundcube: SORT when offered
                untagged, _, _ = c.command(b"CAPABILITY")
                caps = b" ".join(r[0] for r in untagged).upper().split()
                mode = "sort" if b"SORT" in caps else "fetch"
            res["mode"] = mode
            list_view(c, mode, res)
            res["total"] = ms_since(t0)
        if a.pid:
            sample_server(a.pid, before, res)
    except (OSError, IMAPError) as e:
        res["error"] = "%s after %.0f ms" % (e, ms_since(t0))
    finally:
        if c is not None:
            c.close()
    with open(a.out, "a") as fh:
        fh.write(json.dumps(res) + "\n")
    print("%s %s: %s" % (a.server, a.phase, summary(res)), file=sys.stderr)


def summary(r):
    if "error" in r:
        return "FAILED: " + r["error"]
    keys = ["login", "select", "index", "sort", "page", "total", "search"]
    return " ".join("%s=%.0fms" % (k, r[k]) for k in keys if k in r)


# --- the report -------------------------------------------------------------------------

SERVERS = ("stratamail", "dovecot")


def report(a):
    runs = [json.loads(line) for line in open(a.results)]
    by = {(r["server"], r["phase"]): r for r in runs if r["phase"] != "warm"}
    warm = {s: [r for r in runs if r["server"] == s and r["phase"] == "warm"]
            for s in SERVERS}
    problems = [("%s %s: %s" % (r["server"], r["phase"], r["error"]))
                for r in runs if "error" in r]

    print("IMAP large-mailbox benchmark: %d messages (%.0f MiB) in INBOX, "
          "SpamAssassin corpus" % (a.n, a.bytes / 2**20))
    how = {"fetch": "FETCH of every Date header", "sort": "UID SORT"}
    used = {s: how.get(next((r["mode"] for r in warm[s] if "mode" in r),
                            ""), "?") for s in SERVERS}
    print("times in ms (median of %d warm runs); stratamail: %s, "
          "dovecot: %s" % (max(len(warm["dovecot"]), 1),
                           used["stratamail"], used["dovecot"]))
    print()
    rows = [
        ("first open: list view (UIDs assigned / index built)",
         lambda s: get(by, s, "first", "total")),
        ("cold: list view right after a restart",
         lambda s: get(by, s, "cold", "total")),
        ("warm: list view on a new connection",
         lambda s: median(warm[s], "total")),
        ("  warm: LOGIN", lambda s: median(warm[s], "login")),
        ("  warm: SELECT INBOX", lambda s: median(warm[s], "select")),
        ("  warm: index (FETCH 1:* / UID SORT)",
         lambda s: median(warm[s], "index")),
        ("  warm: client-side sort", lambda s: median(warm[s], "sort")),
        ("  warm: UID FETCH of the 50 newest",
         lambda s: median(warm[s], "page")),
        ("  warm: server CPU during the session",
         lambda s: median(warm[s], "server_cpu")),
        ("  cold: index (FETCH 1:* / UID SORT)",
         lambda s: get(by, s, "cold", "index")),
        ("  cold: server CPU during the session",
         lambda s: get(by, s, "cold", "server_cpu")),
        ('body SEARCH "%s" (warm)' % a.word,
         lambda s: get(by, s, "search", "search")),
        ("resident memory afterwards, MiB (VmRSS)",
         lambda s: mib(get(by, s, "search", "rss_kib"))),
        ("peak resident memory, MiB (VmHWM)",
         lambda s: mib(get(by, s, "search", "hwm_kib"))),
    ]
    print("%-52s %12s %12s %8s" % ("", "stratamail", "dovecot", "ratio"))
    for label, f in rows:
        sm, dv = f("stratamail"), f("dovecot")
        print("%-52s %12s %12s %8s" % (label, num(sm), num(dv), ratio(sm, dv)))
    print()
    for s in SERVERS:
        r = by.get((s, "search"), {})
        if r.get("biggest"):
            print("%s: %d process(es) at the end; the largest: %s" % (
                s, r.get("processes", 0), r["biggest"]))
    wr = ratio(median(warm["stratamail"], "total"),
               median(warm["dovecot"], "total"))
    cr = ratio(get(by, "stratamail", "cold", "total"),
               get(by, "dovecot", "cold", "total"))
    print("target warm: stratamail no slower than dovecot (ratio <= 1): %s %s"
          % (wr, verdict(wr, 1.0)))
    print("target cold: within 2x of dovecot (ratio <= 2):             %s %s"
          % (cr, verdict(cr, 2.0)))
    print_probes(by)
    compare_pages(runs)
    problems += checks(a, runs)
    for p in problems:
        print("PROBLEM: " + p)
    return 1 if problems else 0


def checks(a, runs):
    """Functional checks: every session saw N messages, the searches
    found what the fill counted, and each page held 50 messages."""
    out = []
    for r in runs:
        if "error" in r:
            continue
        where = "%s %s" % (r["server"], r["phase"])
        if r.get("exists") != a.n:
            out.append("%s: SELECT showed %s messages, not %d" % (
                where, r.get("exists"), a.n))
        if "search_hits" in r and r["search_hits"] != a.hits:
            out.append("%s: SEARCH found %d messages, not %d" % (
                where, r["search_hits"], a.hits))
        if "page_dates" in r:
            if len(r["page_dates"]) != min(PAGE, a.n):
                out.append("%s: the page held %d messages" % (
                    where, len(r["page_dates"])))
    return out


def print_probes(by):
    """Prints the single-command timings of the probe sessions."""
    probes = {s: dict(get(by, s, "probe", "probes") or []) for s in SERVERS}
    if not any(probes.values()):
        return
    print()
    print("single commands on a warm connection, ms:")
    for label, _ in PROBES:
        sm, dv = probes["stratamail"].get(label), probes["dovecot"].get(label)
        print("  %-50s %12s %12s %8s" % (label, num(sm), num(dv),
                                          ratio(sm, dv)))
    print()


def compare_pages(runs):
    """Prints how the first pages of the two servers differ. Dates that
    do not parse go by INTERNALDATE (the newest) on both sides, but what
    parses can differ between two parsers of broken dates (and in mode
    fetch this script's own lenient parser sorts), so spam with broken
    dates can sort differently."""
    pages = {}
    for r in runs:
        if "page_dates" in r and "error" not in r:
            pages.setdefault(r["server"], r["page_dates"])
    if len(pages) < 2:
        return
    sm, dv = pages["stratamail"], pages["dovecot"]
    if sm == dv:
        print("first page: the same %d messages (by Date header) on both"
              % len(sm))
        return
    only_sm = sorted(set(sm) - set(dv))
    only_dv = sorted(set(dv) - set(sm))
    print("first page: %d of %d Date headers differ, from the parsing of "
          "broken dates; e.g. only "
          "stratamail's page: %s; only Dovecot's: %s" % (
              sum(1 for d in sm if d not in dv), len(sm),
              only_sm[:2], only_dv[:2]))


def get(by, server, phase, key):
    r = by.get((server, phase))
    return None if r is None or "error" in r else r.get(key)


def median(runs, key):
    vals = [r[key] for r in runs if "error" not in r and key in r]
    return statistics.median(vals) if vals else None


def mib(kib):
    return None if kib is None else kib / 1024.0


def num(v):
    if v is None:
        return "FAIL"
    return "%.1f" % v if v < 10 else "%.0f" % v


def ratio(sm, dv):
    if sm is None or dv is None or dv <= 0:
        return "-"
    return "%.2f" % (sm / dv)


def verdict(r, limit):
    if r == "-":
        return "(not measured)"
    return "met" if float(r) <= limit else "MISSED"


# --- main ---------------------------------------------------------------------------

def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    f = sub.add_parser("fill")
    f.add_argument("--corpus", required=True)
    f.add_argument("--maildir", required=True)
    f.add_argument("--n", type=int, required=True)
    f.add_argument("--word", required=True)
    s = sub.add_parser("session")
    s.add_argument("--server", required=True, choices=SERVERS)
    s.add_argument("--phase", required=True)
    s.add_argument("--addr", required=True)
    s.add_argument("--user", required=True)
    s.add_argument("--password", required=True)
    s.add_argument("--mode", choices=("fetch", "sort", "auto"),
                   default="auto")
    s.add_argument("--search")
    s.add_argument("--probe", action="store_true")
    s.add_argument("--pid", type=int)
    s.add_argument("--timeout", type=float, default=900)
    s.add_argument("--out", required=True)
    r = sub.add_parser("report")
    r.add_argument("--results", required=True)
    r.add_argument("--n", type=int, required=True)
    r.add_argument("--bytes", type=int, required=True)
    r.add_argument("--word", required=True)
    r.add_argument("--hits", type=int, required=True)
    a = p.parse_args()
    if a.cmd == "fill":
        fill(a)
    elif a.cmd == "session":
        session(a)
    else:
        sys.exit(report(a))


if __name__ == "__main__":
    main()
