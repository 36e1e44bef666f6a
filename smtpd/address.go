package smtpd

import (
	"strings"
	"unicode/utf8"

	"github.com/emersion/go-smtp"
)

// maxPathLength is the longest address accepted, in octets: RFC 5321
// §4.5.3.1.3 allows 256 for a path, angle brackets included.
const maxPathLength = 254

// hasControl reports whether s holds an ASCII control character (CR,
// LF, NUL, ...) or DEL. No SMTP address, parameter or HELO name may
// contain one (RFC 5321 §4.1.2), and one in a header would forge lines.
func hasControl(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] == 0x7f {
			return true
		}
	}
	return false
}

// isASCII reports whether s is all ASCII.
func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

// checkAddress returns the reply refusing addr, bad when its syntax is
// unusable, with the reason for the log; nil when addr is acceptable.
// utf8OK says whether MAIL carried SMTPUTF8 (RFC 6531 §3.5).
func checkAddress(addr string, utf8OK bool,
	bad *smtp.SMTPError) (*smtp.SMTPError, string) {
	switch {
	case hasControl(addr):
		return bad, "control character in address"
	case len(addr) > maxPathLength:
		return bad, "address too long"
	case isASCII(addr):
		return nil, ""
	case !utf8OK:
		return replyNeedUTF8, "non-ASCII address without SMTPUTF8"
	case !utf8.ValidString(addr):
		return bad, "address is not valid UTF-8"
	}
	return nil, ""
}

// quoteAddr returns addr as it goes on the wire again. go-smtp hands
// over a quoted local part with its quotes and backslashes removed
// ("a b"@x arrives as a b@x), so a local part that is not a Dot-string
// is quoted again (RFC 5321 §4.1.2). The domain is the text after the
// last "@"; an address without one (<postmaster>) and the null
// reverse-path are returned as they are.
func quoteAddr(addr string) string {
	i := strings.LastIndexByte(addr, '@')
	if i < 0 {
		return addr
	}
	local, domain := addr[:i], addr[i+1:]
	if isDotString(local) {
		return addr
	}
	var b strings.Builder
	b.WriteByte('"')
	for i := 0; i < len(local); i++ {
		if c := local[i]; c == '"' || c == '\\' {
			b.WriteByte('\\')
		}
		b.WriteByte(local[i])
	}
	b.WriteString(`"@`)
	b.WriteString(domain)
	return b.String()
}

// isDotString reports whether s is a Dot-string: atoms of atext joined
// by single dots (RFC 5321 §4.1.2), with UTF-8 allowed in atext (RFC
// 6531 §3.3).
func isDotString(s string) bool {
	if s == "" {
		return false
	}
	for _, atom := range strings.Split(s, ".") {
		if atom == "" {
			return false
		}
		for i := 0; i < len(atom); i++ {
			if !isAtext(atom[i]) {
				return false
			}
		}
	}
	return true
}

// isAtext reports whether c may appear in an atom (RFC 5322 §3.2.3),
// counting every non-ASCII byte as part of a UTF-8 atext.
func isAtext(c byte) bool {
	switch {
	case c >= 0x80:
		return true
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z',
		'0' <= c && c <= '9':
		return true
	}
	return strings.IndexByte("!#$%&'*+-/=?^_`{|}~", c) >= 0
}
