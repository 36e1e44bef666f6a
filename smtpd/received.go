package smtpd

import (
	"crypto/rand"
	"encoding/base32"
	"net"
	"net/netip"
	"strings"
	"time"
)

// trace is what the Received header records of one transaction.
type trace struct {
	helo   string     // as the client sent it; checked before use
	remote netip.Addr // invalid when the peer is not TCP
	host   string     // our hostname
	tls    bool
	utf8   bool
	auth   bool   // the client authenticated (submission)
	id     string // intake id
	rcpt   string // the only recipient, or "" when several
	when   time.Time
}

// received returns the Received header field that intake puts first in
// every message (RFC 5321 §4.4), CRLF-terminated and folded:
//
//	Received: from client.example ([192.0.2.1])
//		by mx.example with ESMTPS id K3F5QJZQ2N4UY
//		for <alice@example.com>;
//		Mon, 02 Jan 2006 15:04:05 +0000
//
// Nothing the client sent goes in raw: the HELO name only when it is a
// well-formed domain or address literal, the recipient only after
// checkAddress and quoteAddr. There is no reverse DNS lookup, so the
// TCP-info is the address literal alone.
func received(t trace) []byte {
	var b strings.Builder
	b.WriteString("Received: from ")
	b.WriteString(fromDomain(t.helo, t.remote))
	if t.remote.IsValid() {
		b.WriteString(" (" + addrLiteral(t.remote) + ")")
	}
	b.WriteString("\r\n\tby " + t.host + " with " + protocol(t))
	b.WriteString(" id " + t.id)
	if t.rcpt != "" {
		// Only for a single recipient: naming one of several
		// would tell each the others' addresses (RFC 5321 §7.2).
		b.WriteString("\r\n\tfor <" + t.rcpt + ">")
	}
	b.WriteString(";\r\n\t" + t.when.Format(time.RFC1123Z) + "\r\n")
	return []byte(b.String())
}

// protocol returns the "with" keyword: ESMTP, with S for TLS (RFC 3848)
// or as UTF8SMTP when SMTPUTF8 was used (RFC 6531 §3.7.3).
//
// TODO: go-smtp does not say whether the client said HELO or EHLO, so
// a HELO client is recorded as ESMTP rather than SMTP.
func protocol(t trace) string {
	p := "ESMTP"
	if t.utf8 {
		p = "UTF8SMTP"
	}
	if t.tls {
		p += "S"
	}
	if t.auth {
		p += "A" // RFC 3848: ESMTPA, ESMTPSA
	}
	return p
}

// fromDomain returns the From-domain of the Received header: the HELO
// name when it is a syntactically valid domain or address literal,
// else the client's address literal, else "unknown".
func fromDomain(helo string, remote netip.Addr) string {
	if isDomain(helo) || isAddrLiteral(helo) {
		return helo
	}
	if remote.IsValid() {
		return addrLiteral(remote)
	}
	return "unknown"
}

// addrLiteral returns a as an address literal (RFC 5321 §4.1.3).
func addrLiteral(a netip.Addr) string {
	a = a.Unmap()
	if a.Is6() {
		return "[IPv6:" + a.String() + "]"
	}
	return "[" + a.String() + "]"
}

// isDomain reports whether s is a plausible host name: dot-separated
// labels of letters, digits, hyphens (not at either end of a label)
// and, as many Windows hosts send them, underscores (RFC 5321 §4.1.2,
// RFC 1035 §2.3.1).
func isDomain(s string) bool {
	if s == "" || len(s) > 253 {
		return false
	}
	for _, label := range strings.Split(s, ".") {
		if !isLabel(label) {
			return false
		}
	}
	return true
}

func isLabel(l string) bool {
	if l == "" || len(l) > 63 || l[0] == '-' || l[len(l)-1] == '-' {
		return false
	}
	for i := 0; i < len(l); i++ {
		c := l[i]
		ok := 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' ||
			'0' <= c && c <= '9' || c == '-' || c == '_'
		if !ok {
			return false
		}
	}
	return true
}

// isAddrLiteral reports whether s is an IPv4 or IPv6 address literal
// (RFC 5321 §4.1.3).
func isAddrLiteral(s string) bool {
	inner, ok := strings.CutPrefix(s, "[")
	if !ok {
		return false
	}
	if inner, ok = strings.CutSuffix(inner, "]"); !ok {
		return false
	}
	if v6, found := cutPrefixFold(inner, "IPv6:"); found {
		a, err := netip.ParseAddr(v6)
		return err == nil && a.Is6() && a.Zone() == ""
	}
	a, err := netip.ParseAddr(inner)
	return err == nil && a.Is4()
}

func cutPrefixFold(s, prefix string) (string, bool) {
	if len(s) < len(prefix) || !strings.EqualFold(s[:len(prefix)],
		prefix) {
		return s, false
	}
	return s[len(prefix):], true
}

// remoteIP returns the IP address of a TCP peer.
func remoteIP(a net.Addr) netip.Addr {
	if t, ok := a.(*net.TCPAddr); ok {
		return t.AddrPort().Addr().Unmap()
	}
	return netip.Addr{}
}

var idEncoding = base32.StdEncoding.WithPadding(base32.NoPadding)

// newID returns a fresh intake id: 13 characters of base32, an atom fit
// for the Received header's ID clause and for grep.
func newID() string {
	var b [8]byte
	rand.Read(b[:])
	return idEncoding.EncodeToString(b[:])
}
