package smtpd

import (
	"net/netip"
	"sync"
	"time"
)

// The submission's abuse limits: failed logins per client address, and
// messages per user per hour. Both run on Options.Now, so tests drive
// them without waiting, and both outlive configuration reloads.
const (
	// authFreeFailures are the failed logins of an address answered
	// at once; a user mistyping gets no delay.
	authFreeFailures = 3
	// authBaseDelay is the delay after the first failure past the free
	// ones; it doubles with each further failure.
	authBaseDelay = time.Second
	// authMaxDelay caps the delay.
	authMaxDelay = 16 * time.Second
	// authMaxFailures are the failures that lock an address out.
	authMaxFailures = 10
	// authLockout is how long a locked-out address is refused, and how
	// long a failure is remembered after the last one.
	authLockout = 15 * time.Minute
	// rateWindow is the window of max_messages_per_hour.
	rateWindow = time.Hour
	// maxTracked bounds each map; past it, expired records are swept.
	maxTracked = 1 << 16
)

// limits holds the state of both limits.
//
// TODO: the state is in memory: a restart forgets lockouts and counts.
// And a lockout is per client address, so every user behind one address
// (a webmail on loopback, a company NAT) is locked out together; keying
// failures by address and login name, with a looser per-address limit,
// would spare them.
type limits struct {
	mu    sync.Mutex
	fails map[netip.Addr]*authFailures
	sent  map[string][]time.Time // user → times of accepted messages
}

// authFailures are an address's failed logins.
type authFailures struct {
	n     int
	last  time.Time
	until time.Time // locked out until then
}

func newLimits() *limits {
	return &limits{fails: map[netip.Addr]*authFailures{},
		sent: map[string][]time.Time{}}
}

// locked reports whether ip is locked out at now, and until when.
func (l *limits) locked(ip netip.Addr, now time.Time) (bool, time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	f := l.fails[ip]
	if f == nil || !now.Before(f.until) {
		return false, time.Time{}
	}
	return true, f.until
}

// failed records a failed login from ip at now and returns how many
// failures ip has, the delay before the reply, and whether ip is now
// locked out.
func (l *limits) failed(ip netip.Addr, now time.Time) (int,
	time.Duration, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	f := l.fails[ip]
	if f == nil || now.Sub(f.last) > authLockout {
		if len(l.fails) >= maxTracked {
			l.sweepFails(now)
		}
		f = &authFailures{}
		l.fails[ip] = f
	}
	f.n++
	f.last = now
	if f.n >= authMaxFailures {
		f.until = now.Add(authLockout)
		return f.n, 0, true
	}
	return f.n, authDelay(f.n), false
}

// authDelay is the delay after the n-th failure: none for the free
// ones, then authBaseDelay doubling up to authMaxDelay.
func authDelay(n int) time.Duration {
	if n <= authFreeFailures {
		return 0
	}
	d := authBaseDelay << min(n-authFreeFailures-1, 16)
	return min(d, authMaxDelay)
}

// sweepFails drops the failures that no longer count.
func (l *limits) sweepFails(now time.Time) {
	for ip, f := range l.fails {
		if now.Sub(f.last) > authLockout && !now.Before(f.until) {
			delete(l.fails, ip)
		}
	}
}

// overRate reports whether user has sent max messages in the window
// before now.
func (l *limits) overRate(user string, max int, now time.Time) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.recent(user, now)) >= max
}

// sentOne records a message accepted from user at now.
func (l *limits) sentOne(user string, now time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.sent) >= maxTracked {
		for u := range l.sent {
			l.recent(u, now)
		}
	}
	l.sent[user] = append(l.recent(user, now), now)
}

// recent prunes and returns user's sending times within the window.
func (l *limits) recent(user string, now time.Time) []time.Time {
	ts := l.sent[user]
	i := 0
	for i < len(ts) && now.Sub(ts[i]) >= rateWindow {
		i++
	}
	ts = ts[i:]
	if len(ts) == 0 {
		delete(l.sent, user)
		return nil
	}
	l.sent[user] = ts
	return ts
}
