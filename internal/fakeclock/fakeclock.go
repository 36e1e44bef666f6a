// Package fakeclock is a clock that tests move by hand, for the parts
// whose timers (retries, probes, alerts) are tested without sleeping.
// It satisfies relayq.Clock and monitor.Clock.
package fakeclock

import (
	"sync"
	"time"
)

// Clock is a fake clock. Its methods are safe for concurrent use.
type Clock struct {
	mu      sync.Mutex
	now     time.Time
	waiters []waiter
	waits   chan time.Duration // nil unless Announce was called
}

type waiter struct {
	at time.Time
	ch chan time.Time
}

// New returns a clock standing at start.
func New(start time.Time) *Clock { return &Clock{now: start} }

// Announce makes each later After call send its duration on the
// returned channel (buffered; a test that asks must keep reading), so a
// test can wait until a goroutine has set its timer.
func (c *Clock) Announce() <-chan time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.waits = make(chan time.Duration, 100)
	return c.waits
}

// Now returns the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// After returns a channel that receives the clock's time once Advance
// has moved it d on; at once for d <= 0.
func (c *Clock) After(d time.Duration) <-chan time.Time {
	c.mu.Lock()
	ch := make(chan time.Time, 1)
	if d <= 0 {
		ch <- c.now
	} else {
		c.waiters = append(c.waiters, waiter{c.now.Add(d), ch})
	}
	waits := c.waits
	c.mu.Unlock()
	if waits != nil {
		waits <- d
	}
	return ch
}

// Advance moves the clock on by d and fires the timers that are due.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
	keep := c.waiters[:0]
	for _, w := range c.waiters {
		if w.at.After(c.now) {
			keep = append(keep, w)
		} else {
			w.ch <- c.now
		}
	}
	c.waiters = keep
}
