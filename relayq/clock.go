package relayq

import "time"

// Clock is the source of time for retries and probes, so that tests can
// drive them without sleeping. Network deadlines always use real time.
type Clock interface {
	// Now returns the current time.
	Now() time.Time
	// After returns a channel that receives once d has passed.
	After(d time.Duration) <-chan time.Time
}

// realClock is the Clock of the wall.
type realClock struct{}

func (realClock) Now() time.Time { return time.Now() }

func (realClock) After(d time.Duration) <-chan time.Time {
	return time.After(d)
}
