package conf

import (
	"errors"
	"fmt"
	"math"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// checkDomain returns an error unless name, already lower case, is a
// domain name as DNS writes it: dot-separated labels of letters, digits
// and hyphens (RFC 1035 §2.3.1, with RFC 1123 §2.1's leading digits).
func checkDomain(name string) error {
	switch {
	case name == "":
		return errors.New("is empty")
	case strings.HasSuffix(name, "."):
		return fmt.Errorf("%q ends with a dot; write it without one",
			name)
	case len(name) > 253:
		return fmt.Errorf("%q is longer than 253 characters", name)
	}
	for _, label := range strings.Split(name, ".") {
		if err := checkLabel(label); err != nil {
			return fmt.Errorf("%q is not a domain name: %w", name, err)
		}
	}
	return nil
}

// checkLabel checks one label of a domain name.
func checkLabel(l string) error {
	switch {
	case l == "":
		return errors.New("empty label")
	case len(l) > 63:
		return errors.New("label longer than 63 characters")
	case l[0] == '-' || l[len(l)-1] == '-':
		return errors.New("label starts or ends with a hyphen")
	}
	for _, r := range l {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9', r == '-':
		case r >= utf8.RuneSelf:
			// TODO: accept Unicode names and convert them with
			// x/net/idna; that module is not a dependency yet.
			return errors.New("write an international name in its " +
				"ASCII xn-- form")
		default:
			return fmt.Errorf("%q is not allowed", r)
		}
	}
	return nil
}

// splitAddress lower-cases addr, checks that it is local@domain and
// returns the two parts. The local part may be anything SMTP carries
// except what would be unsafe as a Maildir folder name: no spaces,
// control characters or '/', and not "." or "..".
func splitAddress(addr string) (local, domain string, err error) {
	if !utf8.ValidString(addr) {
		return "", "", fmt.Errorf("%q is not UTF-8", addr)
	}
	addr = strings.ToLower(addr)
	at := strings.LastIndexByte(addr, '@')
	if at < 0 {
		return "", "", fmt.Errorf("%q is not an address like "+
			"local@domain", addr)
	}
	local, domain = addr[:at], addr[at+1:]
	if err := checkLocal(local); err != nil {
		return "", "", fmt.Errorf("%q: %w", addr, err)
	}
	if err := checkDomain(domain); err != nil {
		return "", "", fmt.Errorf("%q: domain %w", addr, err)
	}
	return local, domain, nil
}

// checkLocal checks the local part of an address.
func checkLocal(l string) error {
	switch {
	case l == "":
		return errors.New("the local part is empty")
	case l == "." || l == "..":
		return errors.New("the local part may not be . or ..")
	case len(l) > 64: // RFC 5321 §4.5.3.1.1
		return errors.New("the local part is longer than 64 octets")
	}
	bad := func(r rune) bool {
		return unicode.IsSpace(r) || unicode.IsControl(r) ||
			r == '/' || r == '@'
	}
	if i := strings.IndexFunc(l, bad); i >= 0 {
		r, _ := utf8.DecodeRuneInString(l[i:])
		return fmt.Errorf("the local part may not contain %q", r)
	}
	return nil
}

// checkHostPort checks that s is host:port, with a host name or IP
// address (or, if listen is set, nothing: every address) and a numeric
// port; port 0 is allowed if listen is set (any free port). defPort
// goes into the hint for a missing port.
func checkHostPort(s, defPort string, listen bool) error {
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		return noPort(s, defPort)
	}
	n, err := strconv.ParseUint(port, 10, 16)
	if err != nil || n == 0 && !listen {
		return fmt.Errorf("%q: port %q is not a number from 1 to "+
			"65535", s, port)
	}
	if host == "" && listen {
		return nil
	}
	if _, err := netip.ParseAddr(host); err == nil {
		return nil
	}
	if checkDomain(strings.ToLower(host)) != nil {
		return fmt.Errorf("%q: %q is neither a host name nor an IP "+
			"address", s, host)
	}
	return nil
}

// noPort explains why s, which net.SplitHostPort refused, is not
// host:port.
func noPort(s, defPort string) error {
	h := strings.TrimSuffix(strings.TrimPrefix(s, "["), "]")
	_, err := netip.ParseAddr(h)
	switch {
	case err == nil && strings.Contains(h, ":"):
		return fmt.Errorf("%q has no port (an IPv6 address goes in "+
			"brackets: %q)", s, net.JoinHostPort(h, defPort))
	case s != "" && (err == nil || !strings.ContainsAny(s, ":[]")):
		return fmt.Errorf("%q has no port (write %q)", s,
			net.JoinHostPort(h, defPort))
	}
	return fmt.Errorf("%q is not host:port", s)
}

// Units of a size, the multiples of bytes they stand for.
var sizeUnits = map[string]int64{
	"": 1, "B": 1,
	"KB": 1e3, "MB": 1e6, "GB": 1e9,
	"KiB": 1 << 10, "MiB": 1 << 20, "GiB": 1 << 30,
}

// parseSize parses a size such as "25MiB", "10 MB" or "1000", in bytes.
func parseSize(s string) (int64, error) {
	bad := fmt.Errorf("%q is not a size like \"25MiB\" (units: B, "+
		"KB, KiB, MB, MiB, GB, GiB)", s)
	digits := strings.TrimLeft(s, "0123456789")
	num, unit := s[:len(s)-len(digits)], strings.TrimSpace(digits)
	mult, ok := sizeUnits[unit]
	if num == "" || !ok {
		return 0, bad
	}
	n, err := strconv.ParseInt(num, 10, 64)
	if err != nil || n > math.MaxInt64/mult {
		return 0, fmt.Errorf("%q is too large", s)
	}
	if n == 0 {
		return 0, fmt.Errorf("%q must be more than 0", s)
	}
	return n * mult, nil
}
