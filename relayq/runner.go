package relayq

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"runtime/debug"
	"slices"
	"sync"
	"time"

	"github.com/stratamail/continuity/conf"
	"github.com/stratamail/continuity/store"
)

// maxBatch is the most entries a worker takes at once; a worker keeps
// its connection across batches.
const maxBatch = 50

// testHookAttempt, when set by a test, runs before each delivery
// attempt.
var testHookAttempt func(*envelope)

// runState is what Run shares with the goroutines it starts.
type runState struct {
	ctx context.Context
	wg  sync.WaitGroup
}

// Run delivers due entries until ctx is done, then waits for its
// workers and probes to stop and returns nil. Each domain with due
// entries gets its own worker, so one unreachable primary never delays
// another. Run may be called once per Queue.
func (q *Queue) Run(ctx context.Context) error {
	if !q.started.CompareAndSwap(false, true) {
		return errors.New("relayq: Run called twice")
	}
	q.run.ctx = ctx
	defer q.run.wg.Wait()
	q.watchDeferred()
	for {
		q.dispatch()
		select {
		case <-ctx.Done():
			return nil
		case <-q.wake:
		case <-q.nextTimer():
		}
	}
}

// due reports whether it should be tried at now.
func (it *item) due(now time.Time) bool {
	return !it.busy && !it.env.Held && !it.env.NextAttempt.After(now)
}

// dispatch starts a worker for every domain that has a due entry and
// no worker yet.
func (q *Queue) dispatch() {
	now := q.clock.Now()
	q.mu.Lock()
	defer q.mu.Unlock()
	for _, it := range q.items {
		d := it.env.key()
		if q.workers[d] > 0 || !it.due(now) {
			continue
		}
		q.workers[d]++
		q.run.wg.Go(func() { q.work(d) })
	}
}

// nextTimer returns a channel that fires when the next entry of a
// domain without a worker falls due, or nil if none will.
func (q *Queue) nextTimer() <-chan time.Time {
	var next time.Time
	q.mu.Lock()
	for _, it := range q.items {
		if it.busy || it.env.Held || q.workers[it.env.key()] > 0 {
			continue
		}
		if next.IsZero() || it.env.NextAttempt.Before(next) {
			next = it.env.NextAttempt
		}
	}
	q.wakeAt = next
	q.mu.Unlock()
	if next.IsZero() {
		return nil
	}
	return q.clock.After(max(next.Sub(q.clock.Now()), 0))
}

// work is one of a domain's delivery workers: it takes due entries in
// batches, oldest first, and delivers them over one connection while it
// can. domain is the worker's key (envelope.key): outbound entries of a
// domain have workers of their own.
//
// A domain starts with one worker. Each batch the destination takes
// whole adds another, up to server.relay_connections, so a recovering
// primary is not flooded but a healthy one is not starved; a batch with
// a deferral or a failed connection retires the worker if others remain,
// backing off to fewer connections.
func (q *Queue) work(domain string) {
	defer q.kick() // let the scheduler plan this domain's next wake
	var s *session
	var batch []*item
	defer func() {
		if v := recover(); v != nil {
			q.workerPanic(domain, batch, v)
			return // the session may be in any state: drop it
		}
		s.close()
	}()
	for {
		if batch = q.takeDue(domain); batch == nil {
			return
		}
		var whole bool
		s, whole = q.deliverBatch(domain, s, batch)
		if whole {
			q.addWorker(domain)
		} else if q.retireExtra(domain) {
			return
		}
	}
}

// addWorker starts another worker for domain unless it has the most
// allowed. One that finds nothing due retires at once.
func (q *Queue) addWorker(domain string) {
	limit := 1
	if cfg := q.opts.Config(); cfg != nil && cfg.Server.RelayConnections > 0 {
		limit = cfg.Server.RelayConnections
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.workers[domain] >= limit || q.run.ctx.Err() != nil {
		return
	}
	q.workers[domain]++
	q.run.wg.Go(func() { q.work(domain) })
}

// retireExtra retires the calling worker of domain if it is not the
// last one.
func (q *Queue) retireExtra(domain string) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.workers[domain] <= 1 {
		return false
	}
	q.workers[domain]--
	return true
}

// workerPanic logs a panic in domain's worker outside a delivery
// attempt, frees its batch until the next retry and retires the worker;
// the scheduler starts a new one when an entry is due.
func (q *Queue) workerPanic(domain string, batch []*item, v any) {
	q.log.Error("relay: panic in delivery worker", "domain", domain,
		"panic", v, "stack", string(debug.Stack()))
	next := q.clock.Now().Add(q.retryInterval())
	q.mu.Lock()
	defer q.mu.Unlock()
	for _, it := range batch {
		if it.busy { // not finished: back off, or it panics again
			it.busy = false
			it.env = it.env.clone()
			it.env.NextAttempt = next
		}
	}
	q.workers[domain]--
}

// takeDue marks up to maxBatch due entries of domain busy and returns
// them oldest first. With none, it retires the domain's worker.
func (q *Queue) takeDue(domain string) []*item {
	now := q.clock.Now()
	q.mu.Lock()
	defer q.mu.Unlock()
	var batch []*item
	if q.run.ctx.Err() == nil {
		for _, it := range q.items {
			if it.env.key() == domain && it.due(now) {
				batch = append(batch, it)
			}
		}
	}
	if len(batch) == 0 {
		q.workers[domain]--
		return nil
	}
	slices.SortFunc(batch, func(a, b *item) int {
		return cmp.Or(a.env.Arrived.Compare(b.env.Arrived),
			cmp.Compare(a.env.ID, b.env.ID))
	})
	batch = batch[:min(len(batch), maxBatch)]
	for _, it := range batch {
		it.busy = true
	}
	return batch
}

// deliverBatch tries each entry of batch, connecting (again) when
// needed, and returns the session for the next batch, or nil, and
// whether every entry was delivered. The removals of delivered entries
// are made durable together, with one sync of the queue folder.
func (q *Queue) deliverBatch(domain string, s *session,
	batch []*item) (_ *session, whole bool) {
	removed := 0
	defer func() {
		if removed > 0 {
			if err := store.SyncDir(q.dir); err != nil {
				q.log.Error("queue: cannot sync the folder", "err", err)
			}
		}
	}()
	for i, it := range batch {
		env := q.snapshot(it)
		relay := q.relayFor(env)
		if s != nil && (s.route != relay || !s.alive()) {
			s.close()
			s = nil
		}
		if s == nil {
			var err error
			if s, err = q.connectFor(env, relay); err != nil {
				removed += q.connectFailed(env, relay, batch[i:], err)
				return nil, false
			}
			if !env.outbound() {
				q.markUp(domain)
			}
		}
		next := q.attempt(s, env)
		if s.broken {
			s.close()
			s = nil
		}
		if q.finish(it, next) {
			removed++
		}
	}
	return s, removed == len(batch)
}

// connectFailed defers every entry of rest after a failed connection
// and hands a primary's domain to the watcher; a permanent failure of
// the outbound route (no such domain, null MX) fails the recipients.
func (q *Queue) connectFailed(first *envelope, relay string,
	rest []*item, err error) (removed int) {
	if !first.outbound() && relay != "" && q.run.ctx.Err() == nil {
		q.markDown(first.Domain)
	}
	for _, it := range rest {
		env := q.snapshot(it)
		rcpts := failAll(env.Rcpts, err)
		next := q.warnDelay(q.expire(q.conclude(env, rcpts, err)))
		q.logAttempt(env, next, relay, 0, false, err.Error())
		if q.finish(it, next) {
			removed++
		}
	}
	return removed
}

// snapshot returns a copy of it's envelope.
func (q *Queue) snapshot(it *item) *envelope {
	q.mu.Lock()
	defer q.mu.Unlock()
	return it.env.clone()
}

// relayFor returns the relay host for env: the domain's current one, or
// the last one recorded when the domain has left the configuration. For
// the outbound route it names the route (see outboundRoute).
func (q *Queue) relayFor(env *envelope) string {
	if env.outbound() {
		return q.outboundRoute(env)
	}
	if d := lookupDomain(q.opts.Config(), env.Domain); d != nil {
		return d.Relay
	}
	return env.Relay
}

// attempt delivers env over s and returns the envelope as it stands
// after the attempt. A panic is logged and counts as a failed attempt
// with a broken session, never as a crash.
func (q *Queue) attempt(s *session, env *envelope) (next *envelope) {
	defer func() {
		if v := recover(); v != nil {
			q.log.Error("relay: panic during delivery", "id", env.ID,
				"panic", v, "stack", string(debug.Stack()))
			s.broken = true
			next = q.conclude(env, env.Rcpts,
				fmt.Errorf("internal error: %v", v))
		}
	}()
	f, err := os.Open(msgPath(q.dir, env.ID))
	if err != nil {
		return q.conclude(env, env.Rcpts, err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return q.conclude(env, env.Rcpts, err)
	}
	tried := len(env.pending())
	if testHookAttempt != nil {
		testHookAttempt(env)
	}
	rcpts, reply, err := s.send(env, f, fi.Size())
	next = q.conclude(env, rcpts, err)
	if env.Relay != s.relay {
		next.Relay = s.relay // remember the last known relay host
	}
	next = q.warnDelay(q.expire(next))
	q.logAttempt(env, next, s.relay, tried, s.tls,
		cmp.Or(next.LastError, reply))
	return next
}

// conclude returns env after an attempt that left rcpts, or that ended
// with err when the session failed.
func (q *Queue) conclude(env *envelope, rcpts []rcpt,
	err error) *envelope {
	next := env.clone()
	next.Rcpts = rcpts
	next.Attempts++
	failed := next.addrs(stateFailed)
	switch {
	case len(next.pending()) > 0:
		next.NextAttempt = q.clock.Now().Add(q.retryFor(env))
		next.LastError = firstReply(next.Rcpts, statePending)
		if err != nil {
			next.LastError = err.Error()
		}
	case len(failed) > 0:
		// RFC 5321 §4.2.1: 5yz is permanent. finish returns the
		// message to its sender with a DSN, then drops it.
		next.NextAttempt = time.Time{}
		next.LastError = firstReply(next.Rcpts, stateFailed)
	default:
		next.LastError = ""
	}
	return next
}

// firstReply returns the reply of the first recipient in state.
func firstReply(rcpts []rcpt, state string) string {
	for _, r := range rcpts {
		if r.State == state && r.Reply != "" {
			return r.Reply
		}
	}
	return ""
}

// finish stores the outcome of an attempt: the record is rewritten, or
// both files removed once every recipient is done. An entry cancelled
// meanwhile stays gone.
//
// A delivered entry's files are unlinked without syncing the folder:
// finish reports it, and the worker syncs once per batch.
func (q *Queue) finish(it *item, next *envelope) (removed bool) {
	it.fileMu.Lock()
	defer it.fileMu.Unlock()
	delivered := len(next.pending()) == 0 && !next.Held
	if delivered && !it.gone && len(next.addrs(stateFailed)) > 0 {
		next = q.bounce(next) // a DSN, or held if it cannot be made
		delivered = !next.Held
	}
	var err error
	switch {
	case it.gone:
	case delivered:
		it.gone, removed = true, true
		err = q.unlinkFiles(next.ID)
	default:
		err = writeEnvelope(q.dir, next)
	}
	if err != nil {
		q.log.Error("queue: cannot update entry", "id", next.ID,
			"err", err)
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	it.busy = false
	if it.gone {
		delete(q.items, next.ID)
	} else {
		it.env = next
	}
	return removed
}

// logAttempt writes the one log line of an attempt.
func (q *Queue) logAttempt(env, next *envelope, relay string, tried int,
	tls bool, reply string) {
	outcome, level := "delivered", slog.LevelInfo
	switch {
	case next.Held:
		outcome, level = "held", slog.LevelError
	case len(next.pending()) > 0:
		outcome, level = "deferred", slog.LevelWarn
	case len(next.addrs(stateFailed)) > 0:
		outcome, level = "bounced", slog.LevelWarn
	}
	q.stats.countAttempt(outcome)
	q.log.Log(context.Background(), level, "relay attempt",
		"id", env.ID, "domain", env.Domain, "route", env.routeName(),
		"relay", relay,
		"rcpts", tried, "outcome", outcome, "reply", reply,
		"attempts", next.Attempts, "tls", tls,
		"next_attempt", next.NextAttempt)
}

// dialTimeout, commandTimeout and dataTimeout bound connecting to a
// relay host, each reply, and each write of a message: Options, else
// the [server] relay_*_timeout settings, else the defaults.
func (q *Queue) dialTimeout() time.Duration {
	return q.timeout(q.opts.DialTimeout, func(s conf.Server) time.Duration {
		return s.RelayConnectTimeout
	}, DefaultDialTimeout)
}

func (q *Queue) commandTimeout() time.Duration {
	return q.timeout(q.opts.CommandTimeout, func(s conf.Server) time.Duration {
		return s.RelayCommandTimeout
	}, DefaultCommandTimeout)
}

func (q *Queue) dataTimeout() time.Duration {
	return q.timeout(q.opts.DataTimeout, func(s conf.Server) time.Duration {
		return s.RelayDataTimeout
	}, DefaultDataTimeout)
}

func (q *Queue) timeout(opt time.Duration, fromConf func(conf.Server) time.Duration,
	def time.Duration) time.Duration {
	if opt > 0 {
		return opt
	}
	if cfg := q.opts.Config(); cfg != nil && fromConf(cfg.Server) > 0 {
		return fromConf(cfg.Server)
	}
	return def
}

// retryInterval returns the configured retry interval.
func (q *Queue) retryInterval() time.Duration {
	if cfg := q.opts.Config(); cfg != nil &&
		cfg.Server.RetryInterval > 0 {
		return cfg.Server.RetryInterval
	}
	return DefaultRetryInterval
}

// retryFor returns the retry interval of env: its domain's
// retry_interval for a primary, else the server's.
func (q *Queue) retryFor(env *envelope) time.Duration {
	if !env.outbound() {
		d := lookupDomain(q.opts.Config(), env.Domain)
		if d != nil && d.RetryInterval > 0 {
			return d.RetryInterval
		}
	}
	return q.retryInterval()
}

// hostname returns the name to greet relay hosts with.
func (q *Queue) hostname() string {
	if cfg := q.opts.Config(); cfg != nil && cfg.Server.Hostname != "" {
		return cfg.Server.Hostname
	}
	return "localhost"
}
