package conf

import (
	"strings"
	"unicode"
)

// Portal holds the [portal] table: the operators' web portal. It is
// off unless the table is in the file.
type Portal struct {
	// Listen is the portal's host:port; empty when the portal is off.
	// An address off loopback is served over HTTPS only, with the
	// certificate of [tls].
	Listen string
	// MetricsPublic lets anyone who reaches Listen read /metrics
	// without logging in. Without it, only loopback clients may.
	MetricsPublic bool
	// Operators are the [[operator]] entries, in file order.
	Operators []*Operator
}

// Enabled reports whether the portal is on.
func (p Portal) Enabled() bool { return p.Listen != "" }

// TLS reports whether the portal is served over HTTPS: when it listens
// off loopback.
func (p Portal) TLS() bool { return p.Enabled() && !isLoopback(p.Listen) }

// Operator is one [[operator]] entry: a login of the portal.
type Operator struct {
	// Name is the login name, as written (names compare exactly).
	Name string
	// PasswordHash is a bcrypt or $argon2id$ hash.
	PasswordHash string
}

// CheckPassword reports whether password matches the operator's hash.
func (o *Operator) CheckPassword(password string) bool {
	return VerifyHash(o.PasswordHash, password)
}

// Operator returns the operator named name, or nil.
func (p Portal) Operator(name string) *Operator {
	for _, o := range p.Operators {
		if o.Name == name {
			return o
		}
	}
	return nil
}

// DefaultPortalListen is portal.listen's default.
const DefaultPortalListen = "127.0.0.1:8025"

// maxOperatorName bounds an operator's name.
const maxOperatorName = 64

// portal checks the [portal] table t (nil when absent) and the
// [[operator]] entries ops against the rest of c.
func (p *parser) portal(c *Config, t map[string]any,
	ops []map[string]any, on bool) Portal {
	var pt Portal
	first := map[string]string{} // name → path of its first entry
	for i, o := range ops {
		if o != nil { // else not a table; reported
			pt.Operators = append(pt.Operators,
				p.operator(indexKey("operator", i), o, first))
		}
	}
	if !on {
		return pt
	}
	pt.Listen = p.portalListen(c, t)
	pt.MetricsPublic, _ = p.getBool(t, "portal", "metrics_public")
	if len(ops) == 0 {
		p.errorf("portal", "is on, but no [[operator]] may log in; "+
			"add one with a name and a password hash from "+
			"stratamail hash-password")
	}
	return pt
}

// portalListen returns the checked portal.listen of t, or the default.
func (p *parser) portalListen(c *Config, t map[string]any) string {
	const key = "portal.listen"
	if _, given := t["listen"]; !given {
		return DefaultPortalListen
	}
	a, ok := p.getString(t, "portal", "listen")
	if !ok {
		return DefaultPortalListen
	}
	if err := checkHostPort(a, "8025", true); err != nil {
		p.errorf(key, "%s", err)
		return DefaultPortalListen
	}
	if used(c.SMTP.Listen, a) || used(c.IMAP.Listen, a) ||
		used(c.IMAP.TLSListen, a) {
		p.errorf(key, "%q is also an SMTP or IMAP listener", a)
	}
	if !isLoopback(a) && c.TLS.Cert == "" {
		p.errorf(key, "%q is not on loopback, so the portal must be "+
			"served over HTTPS: set [tls] cert and key", a)
	}
	return a
}

// operator checks one [[operator]] entry t at path; first maps the
// names seen before to their paths.
func (p *parser) operator(path string, t map[string]any,
	first map[string]string) *Operator {
	o := &Operator{}
	name, ok := p.needString(t, path, "name",
		"set it to the operator's login name")
	if ok {
		if err := checkOperatorName(name); err != "" {
			p.errorf(joinKey(path, "name"), "%q %s", name, err)
		}
		key := joinKey(path, "name")
		if prev, dup := first[name]; dup {
			p.errorf(key, "%q is already given at %s", name,
				p.where(prev))
		} else {
			first[name] = key
		}
		o.Name = name
	}
	hash, ok := p.needString(t, path, "password",
		"set it to a hash made by stratamail hash-password")
	if ok {
		if err := checkHashSyntax(hash); err != nil {
			// The value is not quoted: it may be a password.
			p.errorf(joinKey(path, "password"), "%s", err)
		}
		o.PasswordHash = hash
	}
	return o
}

// checkOperatorName returns what is wrong with an operator's name, or
// "".
func checkOperatorName(name string) string {
	if len(name) > maxOperatorName {
		return "is longer than 64 bytes"
	}
	if strings.IndexFunc(name, unicode.IsSpace) >= 0 {
		return "contains a space"
	}
	return ""
}
