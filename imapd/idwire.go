package imapd

import (
	"bytes"
	"net/netip"
	"strings"
)

// ID (RFC 2971), which imapserver lacks, is carried by the guard like
// SORT: it rewrites "tag ID (params)" or "tag ID NIL" into "tag NOOP",
// and the NOOP's completion into "* ID (...)" and "tag OK ID completed";
// ID is added to the capability lists with SORT.
//
// What ID is for here: a webmail on this host logs every user in from
// 127.0.0.1, so the login limits (internal/authlimit) cannot tell its
// users apart, and failures typed into the webmail under one user's
// name lock that user out of the webmail for everyone. Roundcube can
// name the browser's address before login in an ID parameter,
// "x-originating-ip" (contrib/roundcube/plugins/stratamail_client_ip,
// Dovecot reads the same key). The guard keeps that address, and a
// login from a loopback peer is then counted against the browser's
// address instead, per user and per address, as if it came straight
// from there; and, so that a local client naming a new address for
// every guess gets nowhere, all such logins of a user are counted
// together too, with the looser per-address policy (50 failures, then
// locked out). A loopback or unspecified address named is ignored, and
// from any other peer the parameter is: only a process on this host is
// trusted to say where its user is.
//
// TODO: a webmail on another host (reaching us over TLS) is not
// trusted: its users share its address and its per-address limit. A
// list of trusted webmail addresses in [imap] would lift that.

// maxIDLine bounds an ID command the guard rewrites; a longer one is
// passed on, and imapserver answers it BAD. Roundcube's is ~60 bytes.
const maxIDLine = maxSortHead

// idReply is what the server says of itself in answer to ID.
const idReply = `* ID ("name" "StrataMail")`

// parseIDCommand looks at the held start of a command line. For a
// complete ID command it returns the NOOP line to send instead and the
// x-originating-ip it names, if any.
func parseIDCommand(line []byte, ended bool) (noop []byte, v sortVerdict,
	origin netip.Addr) {
	more := sortMore
	if ended || len(line) >= maxIDLine {
		more = sortNo
	}
	tag, rest, ok := bytes.Cut(line, []byte(" "))
	if !ok {
		return nil, more, origin
	}
	if len(tag) == 0 || !isAtom(tag) {
		return nil, sortNo, origin
	}
	name := rest
	if i := bytes.IndexAny(rest, " \r\n"); i >= 0 {
		name, rest = rest[:i], rest[i:]
	} else {
		if len(rest) <= 2 && bytes.EqualFold(rest, []byte("ID")[:len(rest)]) {
			return nil, more, origin
		}
		return nil, sortNo, origin
	}
	if !bytes.EqualFold(name, []byte("ID")) {
		return nil, sortNo, origin
	}
	if !ended {
		return nil, more, origin
	}
	params, ok := parseIDParams(rest)
	if !ok {
		return nil, sortNo, origin
	}
	for i := 0; i+1 < len(params); i += 2 {
		if strings.EqualFold(params[i], "x-originating-ip") {
			if a, err := netip.ParseAddr(params[i+1]); err == nil {
				origin = a.Unmap()
			}
		}
	}
	noop = append(append(append([]byte{}, tag...), " NOOP"...), "\r\n"...)
	return noop, sortYes, origin
}

// parseIDParams reads " NIL" or " (key value ...)" and the line end:
// quoted strings only (values may be NIL), at most 30 pairs (RFC 2971
// §3.3). A literal is not taken (the command is then not rewritten).
func parseIDParams(b []byte) ([]string, bool) {
	b = bytes.TrimSuffix(bytes.TrimSuffix(b, []byte("\n")), []byte("\r"))
	if len(b) == 0 || b[0] != ' ' {
		return nil, false
	}
	b = b[1:]
	if bytes.EqualFold(b, []byte("NIL")) {
		return nil, true
	}
	if len(b) < 2 || b[0] != '(' || b[len(b)-1] != ')' {
		return nil, false
	}
	b = b[1 : len(b)-1]
	var out []string
	for len(b) > 0 {
		if len(out) > 0 {
			if b[0] != ' ' {
				return nil, false
			}
			b = b[1:]
		}
		var s string
		var ok bool
		if len(out)%2 == 1 && len(b) >= 3 && bytes.EqualFold(b[:3],
			[]byte("NIL")) {
			s, b, ok = "", b[3:], true
		} else {
			s, b, ok = cutQuoted(b)
		}
		if !ok {
			return nil, false
		}
		out = append(out, s)
	}
	if len(out)%2 != 0 || len(out) > 60 {
		return nil, false
	}
	return out, true
}

// cutQuoted reads an IMAP quoted string at the start of b.
func cutQuoted(b []byte) (string, []byte, bool) {
	if len(b) == 0 || b[0] != '"' {
		return "", nil, false
	}
	var s []byte
	for i := 1; i < len(b); i++ {
		switch b[i] {
		case '\\':
			if i+1 == len(b) || b[i+1] != '"' && b[i+1] != '\\' {
				return "", nil, false
			}
			i++
			s = append(s, b[i])
		case '"':
			return string(s), b[i+1:], true
		case '\r', '\n', 0:
			return "", nil, false
		default:
			s = append(s, b[i])
		}
	}
	return "", nil, false
}

// originatingIP returns the x-originating-ip of the connection's last
// ID command, if it named one.
func (c *guardConn) originatingIP() netip.Addr {
	if c == nil {
		return netip.Addr{}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.origin
}
