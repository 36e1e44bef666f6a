package conf

import (
	"slices"
	"strings"
	"time"
)

// Submission holds the [submission] table: the authenticated listener
// (RFC 6409) through which users send mail while their primary is down.
type Submission struct {
	// Listen is the host:port addresses that offer STARTTLS (port
	// 587); empty when submission is off.
	Listen []string
	// TLSListen is the host:port addresses with implicit TLS (port
	// 465, RFC 8314); they need [tls].
	TLSListen []string
	// AllowInsecureAuth permits AUTH without TLS. Load refuses it
	// unless every Listen address is on loopback.
	AllowInsecureAuth bool
	// MaxMessagesPerHour caps the messages one user may send in an
	// hour.
	MaxMessagesPerHour int
}

// Enabled reports whether any submission listener is configured.
func (s Submission) Enabled() bool {
	return len(s.Listen)+len(s.TLSListen) > 0
}

// Outbound holds the [outbound] table: how mail for recipients outside
// our domains leaves.
type Outbound struct {
	// Smarthost is the host:port all outbound mail goes to; empty
	// means direct delivery to each recipient domain's MX hosts.
	Smarthost string
	// Username and Password log in to the smarthost with AUTH PLAIN;
	// both empty for no login.
	Username string
	Password string
	// RequireTLS refuses to talk to the smarthost without STARTTLS.
	RequireTLS bool
	// QueueLifetime is how long outbound mail is retried before it is
	// returned to its sender with a delivery status notification.
	QueueLifetime time.Duration
}

// Defaults of the [submission] and [outbound] keys.
const (
	// DefaultMaxMessagesPerHour is submission.max_messages_per_hour's
	// default.
	DefaultMaxMessagesPerHour = 200
	// DefaultQueueLifetime is the default of outbound.queue_lifetime
	// and of each domain's queue_lifetime: five
	// days, RFC 5321 §4.5.4.1's suggestion.
	DefaultQueueLifetime = 5 * 24 * time.Hour
)

// submission checks the [submission] table t, which may be nil. Its
// listeners must not share an address with c's SMTP or IMAP ones, and
// need c's [tls] unless insecure AUTH is allowed.
func (p *parser) submission(t map[string]any, c *Config) Submission {
	const path = "submission"
	s := Submission{MaxMessagesPerHour: DefaultMaxMessagesPerHour}
	s.Listen = p.optListen(t, path, "listen", "587")
	s.TLSListen = p.optListen(t, path, "tls_listen", "465")
	taken := slices.Concat(c.SMTP.Listen, c.IMAP.Listen, c.IMAP.TLSListen)
	p.notTaken(path+".listen", s.Listen, taken)
	p.notTaken(path+".tls_listen", s.TLSListen,
		slices.Concat(taken, s.Listen))
	if n, ok := p.getInt(t, path, "max_messages_per_hour"); ok {
		if n < 1 || n > 1_000_000 {
			p.errorf(path+".max_messages_per_hour",
				"%d must be from 1 to 1000000", n)
		}
		s.MaxMessagesPerHour = int(n)
	}
	s.AllowInsecureAuth, _ = p.getBool(t, path, "allow_insecure_auth")
	// Set, even if it did not load: that error is reported at [tls].
	p.submissionTLS(s, c.TLS.Cert != "")
	return s
}

// submissionTLS checks that every listener of s can offer AUTH safely.
func (p *parser) submissionTLS(s Submission, hasTLS bool) {
	const path = "submission"
	if len(s.TLSListen) > 0 && !hasTLS {
		p.errorf(path+".tls_listen", "needs a certificate: set "+
			"cert and key in [tls]")
	}
	if s.AllowInsecureAuth {
		for _, a := range s.Listen {
			if !isLoopback(a) {
				p.errorf(path+".allow_insecure_auth", "true sends "+
					"passwords in clear text, so every "+
					"submission.listen address must be on "+
					"loopback; %q is not", a)
				return
			}
		}
		return
	}
	if len(s.Listen) > 0 && !hasTLS {
		p.errorf(path+".listen", "AUTH is offered only after "+
			"STARTTLS: set cert and key in [tls], or "+
			"allow_insecure_auth = true on a loopback listener")
	}
}

// optListen returns the checked listen array at key of the table at
// path; absent means none.
func (p *parser) optListen(t map[string]any, path, key,
	port string) []string {
	addrs, ok := p.getStrings(t, path, key)
	if !ok {
		return nil
	}
	full := joinKey(path, key)
	for i, a := range addrs {
		if err := checkHostPort(a, port, true); err != nil {
			p.errorf(indexKey(full, i), "%s", err)
		} else if used(addrs[:i], a) {
			p.errorf(indexKey(full, i), "%q is listed twice", a)
		}
	}
	return addrs
}

// notTaken reports each address of addrs (at key) that is in taken.
func (p *parser) notTaken(key string, addrs, taken []string) {
	for i, a := range addrs {
		if used(taken, a) {
			p.errorf(indexKey(key, i), "%q is already used by "+
				"another listener", a)
		}
	}
}

// outbound checks the [outbound] table t, which may be nil. The
// smarthost must not be one of c's own SMTP or submission listeners.
func (p *parser) outbound(t map[string]any, c *Config) Outbound {
	const path = "outbound"
	o := Outbound{QueueLifetime: p.duration(t, path, "queue_lifetime",
		DefaultQueueLifetime)}
	if h, ok := p.getString(t, path, "smarthost"); ok && h != "" {
		own := slices.Concat(c.SMTP.Listen, c.Submission.Listen,
			c.Submission.TLSListen)
		if err := checkHostPort(h, "587", false); err != nil {
			p.errorf(path+".smarthost", "%s", err)
		} else if RelayLoops(h, own, c.Server.Hostname) {
			p.errorf(path+".smarthost", "%q is this server's own "+
				"listener; mail would loop back here", h)
		} else {
			o.Smarthost = h
		}
	}
	o.Username, _ = p.getString(t, path, "username")
	o.Password, _ = p.getString(t, path, "password")
	o.RequireTLS, _ = p.getBool(t, path, "require_tls")
	switch {
	case o.Username != "" && o.Password == "":
		p.errorf(path+".password", "missing; username is set, so "+
			"password must be too")
	case o.Username == "" && o.Password != "":
		p.errorf(path+".username", "missing; password is set, so "+
			"username must be too")
	case o.Username != "" && o.Smarthost == "":
		p.errorf(path+".username", "needs a smarthost: a login "+
			"is only used there")
	}
	if o.RequireTLS && o.Smarthost == "" {
		p.errorf(path+".require_tls", "needs a smarthost: MX "+
			"delivery uses opportunistic TLS")
	}
	return o
}

// Owns reports whether addr, ignoring case, is the user's address or
// one of its aliases: the addresses the user may send as.
func (u *User) Owns(addr string) bool {
	addr = strings.ToLower(addr)
	return addr == u.Address || slices.Contains(u.Aliases, addr)
}
