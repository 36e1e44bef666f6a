package authlimit

import (
	"net/netip"
	"testing"
	"time"
)

func TestLimiter(t *testing.T) {
	var (
		remote   = netip.MustParseAddr("203.0.113.7")
		loopback = netip.MustParseAddr("127.0.0.1")
		mapped   = netip.MustParseAddr("::ffff:203.0.113.7")
	)
	type step struct {
		ip     netip.Addr
		login  string
		ok     bool // a success instead of a failure
		delay  time.Duration
		locked bool
	}
	fail := func(ip netip.Addr, login string, d time.Duration) step {
		return step{ip: ip, login: login, delay: d}
	}
	const s = time.Second
	tests := []struct {
		name  string
		steps []step
	}{
		{"one user's delays, then the lockout", []step{
			fail(remote, "a", 0), fail(remote, "a", 0),
			fail(remote, "a", 0), fail(remote, "A", 2*s),
			fail(remote, "a", 4*s), fail(remote, "a", 8*s),
			fail(remote, "a", 15*s), fail(remote, "a", 15*s),
			fail(remote, "a", 15*s),
			{ip: remote, login: "a", locked: true}}},
		{"a success forgets the user's failures", []step{
			fail(remote, "a", 0), fail(remote, "a", 0),
			fail(remote, "a", 0), fail(remote, "a", 2*s),
			{ip: remote, login: "a", ok: true},
			fail(remote, "a", 0)}},
		{"the same address under another name is counted apart",
			[]step{fail(remote, "a", 0), fail(remote, "a", 0),
				fail(remote, "a", 0), fail(mapped, "b", 0)}},
		{"loopback clients are counted per user only", []step{
			fail(loopback, "a", 0), fail(loopback, "b", 0),
			fail(loopback, "c", 0), fail(loopback, "d", 0),
			fail(loopback, "e", 0), fail(loopback, "f", 0),
			fail(loopback, "g", 0), fail(loopback, "h", 0),
			fail(loopback, "i", 0), fail(loopback, "j", 0),
			fail(loopback, "k", 0), fail(loopback, "l", 0)}},
		{"one address trying many names slows down", []step{
			fail(remote, "a", 0), fail(remote, "b", 0),
			fail(remote, "c", 0), fail(remote, "d", 0),
			fail(remote, "e", 0), fail(remote, "f", 0),
			fail(remote, "g", 0), fail(remote, "h", 0),
			fail(remote, "i", 0), fail(remote, "j", 0),
			fail(remote, "k", 2*s), fail(remote, "l", 4*s)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := New(PerUser, PerAddr)
			now := time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC)
			for i, st := range tt.steps {
				if st.ok {
					l.Succeeded(st.ip, st.login)
					continue
				}
				_, delay, locked := l.Failed(st.ip, st.login, now)
				if delay != st.delay || locked != st.locked {
					t.Fatalf("step %d (%v %s): delay %v locked %v, "+
						"want %v %v", i, st.ip, st.login, delay, locked,
						st.delay, st.locked)
				}
			}
		})
	}
}

func TestLockoutEnds(t *testing.T) {
	l := New(PerUser, PerAddr)
	ip := netip.MustParseAddr("198.51.100.1")
	now := time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC)
	for range PerUser.Limit {
		l.Failed(ip, "a", now)
	}
	if locked, _ := l.Locked(ip, "a", now); !locked {
		t.Fatal("not locked out after the limit")
	}
	if locked, _ := l.Locked(ip, "b", now); locked {
		t.Error("another name from the address is locked out too")
	}
	later := now.Add(PerUser.Lockout)
	if locked, _ := l.Locked(ip, "a", later); locked {
		t.Error("still locked out after the lockout")
	}
	if _, delay, _ := l.Failed(ip, "a", later.Add(time.Second)); delay != 0 {
		t.Errorf("a failure after the lockout costs %v; the count "+
			"should have started again", delay)
	}
}
