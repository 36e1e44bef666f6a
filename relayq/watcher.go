package relayq

// The watcher: while a domain's primary is down and mail waits for it,
// probe the relay host every probe interval, and flush the domain's
// queue the moment the primary answers, instead of waiting for the next
// retry (which may be minutes away).
//
// A primary is "down" when the last attempt could not open a session
// with it (no connection, no 220 banner, no EHLO). A primary that
// answers but defers mail with 4yz is up; its entries wait for the retry
// interval, so the watcher never hammers a busy or greylisting server.
//
// Every domain with waiting mail is watched, whatever its Monitor
// setting: flushing on recovery is what the queue exists for, and an
// unwatched domain would wait out the whole retry interval. Monitor
// belongs to the monitor (package monitor: probe history, uptime,
// alerts), which probes monitored domains all the time and flushes
// their queue on recovery through Flush.
//
// TODO: a monitored domain with mail waiting is probed twice per
// interval, by the watcher and by the monitor; the watcher could leave
// monitored domains to the monitor once both share one Probe schedule.

import (
	"context"
	"time"
)

// markDown records that domain's primary is unreachable and starts its
// probe loop unless one runs.
func (q *Queue) markDown(domain string) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.down[domain] = true
	if q.probing[domain] {
		return
	}
	q.probing[domain] = true
	q.run.wg.Go(func() { q.probeLoop(domain) })
}

// isDown reports whether domain's primary is unreachable and watched.
func (q *Queue) isDown(domain string) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.down[domain] && q.probing[domain]
}

// markUp records that domain's primary took a session.
func (q *Queue) markUp(domain string) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.down[domain] = false
}

// watchDeferred starts probes at start-up for domains whose entries
// were deferred by an earlier run: their primary may have returned
// while we were away.
func (q *Queue) watchDeferred() {
	now := q.clock.Now()
	var domains []string
	q.mu.Lock()
	for _, it := range q.items {
		e := it.env
		if e.Attempts > 0 && !e.Held && e.NextAttempt.After(now) &&
			!e.outbound() {
			domains = append(domains, e.Domain)
		}
	}
	q.mu.Unlock()
	for _, d := range domains {
		q.markDown(d)
	}
}

// probeLoop probes domain's relay host every probe interval while the
// domain is down and has waiting entries; on the first success it
// flushes the domain's queue.
func (q *Queue) probeLoop(domain string) {
	ctx := q.run.ctx
	for {
		select {
		case <-ctx.Done():
			q.stopProbing(domain)
			return
		case <-q.clock.After(q.probeInterval()):
		}
		relay, ok := q.stillDown(domain)
		if !ok {
			return
		}
		if err := q.probe(ctx, relay); err != nil {
			q.log.Debug("relay: probe failed", "domain", domain,
				"relay", relay, "err", err)
			continue
		}
		q.log.Info("relay: primary is back; flushing its queue",
			"domain", domain, "relay", relay)
		q.markUp(domain)
		q.stopProbing(domain)
		q.Flush(domain)
		return
	}
}

// stillDown reports whether domain should still be probed and returns
// its relay host; if not, it ends the domain's probing.
func (q *Queue) stillDown(domain string) (string, bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	relay, waiting := "", false
	for _, it := range q.items {
		if it.env.Domain == domain && !it.env.Held &&
			!it.env.outbound() {
			waiting = true
			relay = it.env.Relay
		}
	}
	if d := lookupDomain(q.opts.Config(), domain); d != nil {
		relay = d.Relay
	}
	if !q.down[domain] || !waiting || relay == "" {
		q.probing[domain] = false
		q.down[domain] = false // unwatched: a new entry tries at once
		return "", false
	}
	return relay, true
}

func (q *Queue) stopProbing(domain string) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.probing[domain] = false
}

// probe checks that relay takes a session (see Probe).
func (q *Queue) probe(ctx context.Context, relay string) error {
	return Probe(ctx, relay, q.hostname(), q.probeTimeout())
}

// probeTimeout bounds each step of a probe: a primary that cannot greet
// within a probe interval (or 5s, if longer) is not back yet.
func (q *Queue) probeTimeout() time.Duration {
	return min(max(q.probeInterval(), 5*time.Second),
		q.commandTimeout())
}

// probeInterval returns the configured probe interval.
func (q *Queue) probeInterval() time.Duration {
	if cfg := q.opts.Config(); cfg != nil &&
		cfg.Server.ProbeInterval > 0 {
		return cfg.Server.ProbeInterval
	}
	return DefaultProbeInterval
}
