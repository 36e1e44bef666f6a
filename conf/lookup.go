package conf

import "strings"

// Domain returns the configured domain name, ignoring case, or nil
// when it is not one of ours.
func (c *Config) Domain(name string) *Domain {
	return c.domains[strings.ToLower(name)]
}

// Lookup resolves the recipient addr, local@domain, ignoring case.
// The domain is nil when the address is not ours. For a both or local
// domain the user is the one with that address or alias, or nil when
// there is none. A relay domain has no users: every local part is
// accepted there, and the user is nil.
func (c *Config) Lookup(addr string) (*Domain, *User) {
	addr = strings.ToLower(addr)
	at := strings.LastIndexByte(addr, '@')
	if at < 0 {
		return nil, nil
	}
	d := c.domains[addr[at+1:]]
	if d == nil || d.Mode == ModeRelay {
		return d, nil
	}
	return d, c.addrs[addr]
}

// User returns the user whose login name is login, ignoring case, or
// nil. Only primary addresses are login names, not aliases.
func (c *Config) User(login string) *User {
	return c.users[strings.ToLower(login)]
}
