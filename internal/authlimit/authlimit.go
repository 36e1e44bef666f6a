// Package authlimit slows password guessing down for the services that
// take passwords (IMAP and submission): failed logins cost a growing
// delay, and past a limit a temporary lockout.
//
// Failures are counted twice: per client address and login name, with a
// strict limit, so that guessing one user's password soon stops; and
// per client address alone, with a looser one, against trying one
// password on many users. The per-address count is skipped for
// loopback clients: a webmail on the same host logs every user in from
// 127.0.0.1, and one careless user must not lock all of them out.
//
// The state lives in memory and ends with the process.
package authlimit

import (
	"net/netip"
	"strings"
	"sync"
	"time"
)

// Policy is the schedule of one count.
type Policy struct {
	// Free is the number of failures answered at once.
	Free int
	// Base is the delay after the first failure past the free ones;
	// it doubles with each further failure, up to Max.
	Base, Max time.Duration
	// Limit is the number of failures that locks the key out, for
	// Lockout; a failure is forgotten Lockout after the last one.
	Limit   int
	Lockout time.Duration
}

// delay returns the delay after the n-th failure.
func (p Policy) delay(n int) time.Duration {
	if n <= p.Free {
		return 0
	}
	return min(p.Base<<min(n-p.Free-1, 16), p.Max)
}

// The schedules the services use: a user mistyping a password waits
// nothing three times, then 2 s rising to 15 s, and is locked out for
// 15 minutes at the tenth failure in a row; an address trying many
// names is locked out after 50.
var (
	PerUser = Policy{Free: 3, Base: 2 * time.Second,
		Max: 15 * time.Second, Limit: 10, Lockout: 15 * time.Minute}
	PerAddr = Policy{Free: 10, Base: 2 * time.Second,
		Max: 15 * time.Second, Limit: 50, Lockout: 15 * time.Minute}
)

// maxTracked bounds the state; past it, forgotten records are swept.
const maxTracked = 1 << 16

// Limiter keeps both counts. Its methods are safe for concurrent use.
type Limiter struct {
	user, addr Policy

	mu    sync.Mutex
	fails map[string]*record
}

// record is one key's failures.
type record struct {
	n     int
	last  time.Time
	until time.Time // locked out until then
}

// New returns a Limiter with the per-user and per-address policies.
func New(user, addr Policy) *Limiter {
	return &Limiter{user: user, addr: addr, fails: map[string]*record{}}
}

// keys returns the per-user key and the per-address key of a client,
// the latter empty for loopback.
func keys(ip netip.Addr, login string) (string, string) {
	ip = ip.Unmap()
	user := ip.String() + "|" + strings.ToLower(login)
	if ip.IsLoopback() {
		return user, ""
	}
	return user, ip.String()
}

// Locked reports whether a login as login from ip is refused at now,
// and until when.
func (l *Limiter) Locked(ip netip.Addr, login string,
	now time.Time) (bool, time.Time) {
	uk, ak := keys(ip, login)
	l.mu.Lock()
	defer l.mu.Unlock()
	var until time.Time
	for _, k := range []string{uk, ak} {
		if r := l.fails[k]; k != "" && r != nil && now.Before(r.until) &&
			r.until.After(until) {
			until = r.until
		}
	}
	return !until.IsZero(), until
}

// Failed records a failed login as login from ip at now. It returns the
// number of failures of the client, the delay to wait before answering,
// and whether the client is now locked out.
func (l *Limiter) Failed(ip netip.Addr, login string,
	now time.Time) (int, time.Duration, bool) {
	uk, ak := keys(ip, login)
	l.mu.Lock()
	defer l.mu.Unlock()
	n, delay, locked := l.fail(uk, l.user, now)
	if ak != "" {
		an, adelay, alocked := l.fail(ak, l.addr, now)
		n, delay, locked = max(n, an), max(delay, adelay),
			locked || alocked
	}
	if locked {
		delay = 0 // the lockout answers; no need to hold the client
	}
	return n, delay, locked
}

// Succeeded forgets the failures of login from ip: a user who finally
// types the right password starts afresh. The per-address count stays.
func (l *Limiter) Succeeded(ip netip.Addr, login string) {
	uk, _ := keys(ip, login)
	l.mu.Lock()
	delete(l.fails, uk)
	l.mu.Unlock()
}

// fail counts one failure of key under p. It runs with l.mu held.
func (l *Limiter) fail(key string, p Policy,
	now time.Time) (int, time.Duration, bool) {
	r := l.fails[key]
	if r == nil || now.Sub(r.last) > p.Lockout {
		if len(l.fails) >= maxTracked {
			l.sweep(now, max(l.user.Lockout, l.addr.Lockout))
		}
		r = &record{}
		l.fails[key] = r
	}
	r.n++
	r.last = now
	if r.n >= p.Limit {
		r.until = now.Add(p.Lockout)
		return r.n, 0, true
	}
	return r.n, p.delay(r.n), false
}

// sweep drops the records that no longer count.
func (l *Limiter) sweep(now time.Time, forget time.Duration) {
	for k, r := range l.fails {
		if now.Sub(r.last) > forget && !now.Before(r.until) {
			delete(l.fails, k)
		}
	}
}
