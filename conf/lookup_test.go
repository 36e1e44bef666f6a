package conf

import "testing"

const lookupConfig = okDomains + `[[domain]]
name = "local.test"
mode = "local"
[[user]]
address = "alice@example.com"
password = "HASH"
aliases = ["sales@example.com", "info@local.test"]
[[user]]
address = "bob@local.test"
password = "HASH"
`

func TestLookup(t *testing.T) {
	c, err := parse(lookupConfig)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		addr, domain, user string
	}{
		{"alice@example.com", "example.com", "alice@example.com"},
		{"ALICE@Example.COM", "example.com", "alice@example.com"},
		{"Sales@example.com", "example.com", "alice@example.com"},
		{"info@LOCAL.test", "local.test", "alice@example.com"},
		{"bob@local.test", "local.test", "bob@local.test"},
		{"bob@example.com", "example.com", ""},
		{"anyone@relay.test", "relay.test", ""},
		{"ANYONE@Relay.Test", "relay.test", ""},
		{"alice@example.net", "", ""},
		{"alice@example.com.", "", ""},
		{"alice", "", ""},
		{"", "", ""},
		{"@example.com", "example.com", ""},
	} {
		d, u := c.Lookup(tc.addr)
		if name(d) != tc.domain || addr(u) != tc.user {
			t.Errorf("Lookup(%q) = %q, %q; want %q, %q", tc.addr,
				name(d), addr(u), tc.domain, tc.user)
		}
	}
}

func TestDomainAndUser(t *testing.T) {
	c, err := parse(lookupConfig)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range [][2]string{
		{"example.com", "example.com"}, {"EXAMPLE.com", "example.com"},
		{"relay.test", "relay.test"}, {"example.net", ""}, {"", ""},
	} {
		if got := name(c.Domain(tc[0])); got != tc[1] {
			t.Errorf("Domain(%q) = %q, want %q", tc[0], got, tc[1])
		}
	}
	for _, tc := range [][2]string{
		{"alice@example.com", "alice@example.com"},
		{"Alice@EXAMPLE.com", "alice@example.com"},
		{"bob@local.test", "bob@local.test"},
		{"sales@example.com", ""}, // an alias is not a login
		{"alice", ""}, {"", ""},
	} {
		if got := addr(c.User(tc[0])); got != tc[1] {
			t.Errorf("User(%q) = %q, want %q", tc[0], got, tc[1])
		}
	}
}

func name(d *Domain) string {
	if d == nil {
		return ""
	}
	return d.Name
}

func addr(u *User) string {
	if u == nil {
		return ""
	}
	return u.Address
}

func TestMode(t *testing.T) {
	for _, tc := range []struct {
		m              Mode
		stores, relays bool
	}{
		{ModeBoth, true, true}, {ModeRelay, false, true},
		{ModeLocal, true, false}, {"", false, false},
	} {
		if tc.m.Stores() != tc.stores || tc.m.Relays() != tc.relays {
			t.Errorf("mode %q: Stores %v, Relays %v", tc.m,
				tc.m.Stores(), tc.m.Relays())
		}
	}
}
