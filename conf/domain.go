package conf

import (
	"fmt"
	"net"
	"strings"
)

// domains checks the [[domain]] entries ts and indexes them in c.
func (p *parser) domains(c *Config, ts []map[string]any) {
	c.domains = map[string]*Domain{}
	first := map[string]string{} // name → path of its first entry
	for i, t := range ts {
		if t == nil {
			continue // not a table; reported
		}
		path := indexKey("domain", i)
		d := p.domain(path, t)
		d.RetryInterval = p.duration(t, path, "retry_interval",
			c.Server.RetryInterval)
		c.Domains = append(c.Domains, d)
		if d.Relay != "" && RelayLoops(d.Relay, c.SMTP.Listen,
			c.Server.Hostname) {
			p.errorf(joinKey(path, "relay"), "%q is this server's own "+
				"SMTP listener; mail would loop back here", d.Relay)
		}
		if d.Name == "" {
			continue
		}
		if prev, dup := first[d.Name]; dup {
			p.errorf(joinKey(path, "name"), "%q is already given at %s",
				d.Name, p.where(prev))
			continue
		}
		first[d.Name] = joinKey(path, "name")
		c.domains[d.Name] = d
	}
}

// where describes the key at path for a message: "domain[0].name
// (line 12)".
func (p *parser) where(path string) string {
	if n := p.lines.line(path); n > 0 {
		return fmt.Sprintf("%s (line %d)", path, n)
	}
	return path
}

// domain checks one [[domain]] entry t, found at path.
func (p *parser) domain(path string, t map[string]any) *Domain {
	d := &Domain{}
	name, ok := p.needString(t, path, "name",
		"set it to the customer's domain")
	if ok {
		name = strings.ToLower(name)
		if err := checkDomain(name); err != nil {
			p.errorf(joinKey(path, "name"), "%s", err)
		} else {
			d.Name = name
		}
	}
	d.Mode = p.mode(t, path)
	d.Relay = p.relay(t, path, d.Mode)
	d.Monitor, _ = p.getBool(t, path, "monitor")
	d.AcceptFrom = p.networks(t, path)
	d.QueueLifetime = p.duration(t, path, "queue_lifetime",
		DefaultQueueLifetime)
	if _, given := t["relay"]; d.Monitor && !given {
		p.errorf(joinKey(path, "monitor"), "true needs a relay host "+
			"to probe; set relay")
	}
	return d
}

// mode returns the checked mode of the domain entry t at path.
func (p *parser) mode(t map[string]any, path string) Mode {
	s, ok := p.needString(t, path, "mode",
		"set it to both, relay or local")
	if !ok {
		return ""
	}
	switch m := Mode(s); m {
	case ModeBoth, ModeRelay, ModeLocal:
		return m
	}
	p.errorf(joinKey(path, "mode"), "%q is not one of both, relay, "+
		"local", s)
	return ""
}

// relay returns the checked relay host of the domain entry t at path,
// which mode requires unless it is local.
func (p *parser) relay(t map[string]any, path string, mode Mode) string {
	key := joinKey(path, "relay")
	if _, given := t["relay"]; !given {
		if mode.Relays() {
			p.errorf(key, "missing; mode %s needs the primary's "+
				"host:port", mode)
		}
		return ""
	}
	r, ok := p.getString(t, path, "relay")
	if !ok {
		return ""
	}
	if err := checkHostPort(r, "25", false); err != nil {
		p.errorf(key, "%s", err)
		return ""
	}
	return r
}

// users checks the [[user]] entries ts against the domains of c and
// indexes them in c.
func (p *parser) users(c *Config, ts []map[string]any) {
	c.users = map[string]*User{}
	c.addrs = map[string]*User{}
	first := map[string]string{} // address → path of its first use
	for i, t := range ts {
		if t == nil {
			continue // not a table; reported
		}
		path := indexKey("user", i)
		u := p.user(c, path, t)
		c.Users = append(c.Users, u)
		if u.Address != "" {
			c.users[u.Address] = u
			p.claim(c, first, u, joinKey(path, "address"), u.Address)
		}
		for j, a := range u.Aliases {
			key := indexKey(joinKey(path, "aliases"), j)
			p.claim(c, first, u, key, a)
		}
	}
}

// claim gives addr, found at path, to u unless an earlier address or
// alias has it.
func (p *parser) claim(c *Config, first map[string]string, u *User,
	path, addr string) {
	if prev, dup := first[addr]; dup {
		p.errorf(path, "%q is already given at %s", addr, p.where(prev))
		return
	}
	first[addr] = path
	c.addrs[addr] = u
}

// user checks one [[user]] entry t, found at path.
func (p *parser) user(c *Config, path string, t map[string]any) *User {
	u := &User{}
	key := joinKey(path, "address")
	a, ok := p.needString(t, path, "address",
		"set it to the user's address, local@domain")
	if ok {
		u.Address, u.Domain = p.address(c, key, a)
	}
	hash, ok := p.needString(t, path, "password",
		"set it to a hash made by stratamail hash-password")
	if ok {
		if err := checkHashSyntax(hash); err != nil {
			// The value is not quoted: it may be a password.
			p.errorf(joinKey(path, "password"), "%s", err)
		}
		u.PasswordHash = hash
	}
	aliases, _ := p.getStrings(t, path, "aliases")
	for i, a := range aliases {
		alias, _ := p.address(c, indexKey(joinKey(path, "aliases"), i), a)
		if alias != "" {
			u.Aliases = append(u.Aliases, alias)
		}
	}
	return u
}

// address checks a, the address of a user or an alias at path, and
// returns it in lower case with its domain, which must be configured
// and keep mailboxes. It returns "" after an error.
func (p *parser) address(c *Config, path, a string) (string, *Domain) {
	local, domain, err := splitAddress(a)
	if err != nil {
		p.errorf(path, "%s", err)
		return "", nil
	}
	d := c.domains[domain]
	switch {
	case d == nil:
		p.errorf(path, "domain %q is not configured in any [[domain]]",
			domain)
		return "", nil
	case d.Mode == ModeRelay:
		p.errorf(path, "domain %q has mode relay, which keeps no "+
			"mailboxes; make it both or local", domain)
		return "", nil
	}
	return local + "@" + domain, d
}

// RelayLoops reports whether relay (host:port) would reach one of this
// server's own SMTP listeners: the same port on the same address, a
// loopback address when the listener is on loopback or a wildcard, or
// the server's own hostname. Names other than hostname are not resolved
// and this host's other addresses are not looked up, so this catches the
// mistakes one can see in the file, not every loop; delivery refuses a
// relay host that greets with our hostname (relayq.ErrLoop).
func RelayLoops(relay string, listen []string, hostname string) bool {
	rhost, rport, err := net.SplitHostPort(relay)
	if err != nil {
		return false
	}
	rip := net.ParseIP(rhost)
	for _, l := range listen {
		lhost, lport, err := net.SplitHostPort(l)
		if err != nil || lport != rport {
			continue
		}
		lip := net.ParseIP(lhost)
		switch {
		case strings.EqualFold(rhost, hostname),
			strings.EqualFold(rhost, lhost):
			return true
		case rip == nil:
			continue
		case lip != nil && lip.Equal(rip):
			return true
		case rip.IsLoopback() && (lhost == "" || lip != nil &&
			(lip.IsUnspecified() || lip.IsLoopback())):
			return true // loopback reaches wildcard and loopback ones
		}
	}
	return false
}

// postmaster checks server.postmaster of the [server] table t against
// the domains and users of c: mail to it must stay with us.
func (p *parser) postmaster(c *Config, t map[string]any) {
	pm, ok := p.getString(t, "server", "postmaster")
	if !ok || pm == "" {
		return
	}
	const key = "server.postmaster"
	pm = strings.ToLower(pm)
	if _, _, err := splitAddress(pm); err != nil {
		p.errorf(key, "%q is not an address: %s", pm, err)
		return
	}
	dom, user := c.Lookup(pm)
	switch {
	case dom == nil:
		p.errorf(key, "%q is not in one of the [[domain]] entries; "+
			"mail to postmaster must stay with this server", pm)
	case dom.Mode.Stores() && user == nil:
		p.errorf(key, "%q is no [[user]]'s address or alias", pm)
	default:
		c.Server.Postmaster = pm
	}
}
