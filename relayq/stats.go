package relayq

import (
	"sync/atomic"
	"time"
)

// Stats is a snapshot of the queue for monitoring: its counters since
// the start and its entries per domain now.
type Stats struct {
	// Deliveries counts delivery attempts by outcome: "delivered",
	// "deferred" (to be retried), "bounced" (refused for good, or
	// expired: returned to the sender) and "held" (for the operator).
	Deliveries map[string]uint64
	// Domains has an entry for each domain with entries queued for
	// its primary.
	Domains map[string]DomainStats
	// Outbound describes the entries on the outbound route (replies,
	// alerts and bounces to other domains), whatever their domain.
	Outbound DomainStats
}

// DomainStats describes one domain's entries in the queue.
type DomainStats struct {
	// Messages is the number of entries, held ones included.
	Messages int
	// Held is the number of held entries.
	Held int
	// Oldest is the arrival time of the oldest entry.
	Oldest time.Time
}

// outcomes are the results of an attempt that logAttempt names.
var outcomes = []string{"delivered", "deferred", "bounced", "held"}

// counters are the queue's event counters.
type counters struct {
	deliveries [4]atomic.Uint64 // by index in outcomes
}

// countAttempt counts one attempt of outcome, one of outcomes.
func (c *counters) countAttempt(outcome string) {
	for i, o := range outcomes {
		if o == outcome {
			c.deliveries[i].Add(1)
		}
	}
}

// Stats returns a snapshot of the queue's counters and entries.
func (q *Queue) Stats() Stats {
	s := Stats{Deliveries: map[string]uint64{},
		Domains: map[string]DomainStats{}}
	for i, o := range outcomes {
		s.Deliveries[o] = q.stats.deliveries[i].Load()
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	for _, it := range q.items {
		if it.env.outbound() {
			s.Outbound.add(it.env)
			continue
		}
		d := s.Domains[it.env.Domain]
		d.add(it.env)
		s.Domains[it.env.Domain] = d
	}
	return s
}

// add counts e in d.
func (d *DomainStats) add(e *envelope) {
	d.Messages++
	if e.Held {
		d.Held++
	}
	if d.Oldest.IsZero() || e.Arrived.Before(d.Oldest) {
		d.Oldest = e.Arrived
	}
}
