package smtpd

import (
	"sync"
	"time"
)

// The submission's sending limit: messages per user per hour. It runs on
// Options.Now, so tests drive it without waiting, and it outlives
// configuration reloads. Failed logins are limited by
// internal/authlimit, shared with IMAP.
const (
	// rateWindow is the window of max_messages_per_hour.
	rateWindow = time.Hour
	// maxTracked bounds the map; past it, expired records are swept.
	maxTracked = 1 << 16
)

// limits holds the sending times of each user.
//
// TODO: the state is in memory: a restart forgets the counts.
type limits struct {
	mu   sync.Mutex
	sent map[string][]time.Time // user → times of accepted messages
}

func newLimits() *limits {
	return &limits{sent: map[string][]time.Time{}}
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
