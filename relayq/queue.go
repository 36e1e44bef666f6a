// Package relayq owns the relay queue: the messages accepted for a
// customer domain that still have to reach its primary, and those our
// users sent to other domains.
//
// An entry is a hard link to the intake spool file plus an envelope
// record (see envelope.go for the format), both in one queue folder,
// <data_dir>/queue. Run delivers due entries to each domain's relay
// host with one worker per domain, retries temporary failures after the
// configured retry interval, holds entries with permanent failures for
// the operator, and probes an unreachable primary so that its queue is
// flushed as soon as it answers again (watcher.go).
//
// The same machinery carries the outbound route (outbound.go): mail
// from our users to other domains, delivered to the smarthost or to
// the recipient domain's MX hosts, with its own worker per recipient
// domain; a permanent failure or the end of the queue lifetime returns
// it to the sender as a DSN in their shadow INBOX (dsn.go).
//
// relayq never modifies a message file: the file shares its inode with
// the shadow Maildir copies. It reads the configuration snapshot it is
// handed and never writes it. It imports only conf and store, which
// takes its DSNs.
package relayq

import (
	"cmp"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/stratamail/continuity/conf"
	"github.com/stratamail/continuity/store"
)

// Defaults for the intervals and timeouts of Options and the config.
const (
	DefaultRetryInterval  = 5 * time.Minute
	DefaultProbeInterval  = 60 * time.Second
	DefaultDialTimeout    = 30 * time.Second
	DefaultCommandTimeout = 5 * time.Minute // RFC 5321 §4.5.3.2.1-4
	DefaultDataTimeout    = 3 * time.Minute // RFC 5321 §4.5.3.2.5
)

// corruptDir is the subfolder that takes records that do not parse.
const corruptDir = "corrupt"

// ErrNotFound is returned for an ID that names no queue entry.
var ErrNotFound = errors.New("relayq: no such queue entry")

// ErrNotHeld is returned by Release for an entry that is not held (or
// does not exist).
var ErrNotHeld = errors.New("no such held entry")

// Options configures a Queue. Every field is optional.
type Options struct {
	// Config returns the current configuration snapshot; relayq reads
	// the hostname, intervals and relay hosts from it at delivery time.
	Config func() *conf.Config
	// Logger receives one line per queue event; default slog.Default().
	Logger *slog.Logger
	// Clock supplies the time and timers; default the real clock.
	Clock Clock
	// DialTimeout bounds connecting to a relay host.
	DialTimeout time.Duration
	// CommandTimeout bounds the wait for each reply from a relay host.
	CommandTimeout time.Duration
	// DataTimeout bounds each write of the message during DATA.
	DataTimeout time.Duration
	// Store receives the delivery status notifications of the
	// outbound route in the sender's shadow INBOX; without it none
	// are written (the failure is only logged).
	Store *store.Store
	// Resolver finds the MX hosts of outbound mail; default
	// net.DefaultResolver.
	Resolver Resolver
	// MXPort is the port of MX hosts; default "25". Tests point it
	// at loopback servers.
	MXPort string
}

// Queue is the relay queue in one folder. Its methods are safe for
// concurrent use.
type Queue struct {
	dir   string
	opts  Options
	log   *slog.Logger
	clock Clock

	wake    chan struct{} // a buffered kick for the scheduler
	started atomic.Bool
	run     runState // set by Run
	stats   counters

	mu      sync.Mutex
	items   map[string]*item     // by ID
	workers map[string]int       // delivery workers per domain
	down    map[string]bool      // domains whose primary is unreachable
	probing map[string]bool      // domains with a probe loop
	noTLS   map[string]time.Time // relay host → STARTTLS retry time
	// wakeAt is when the scheduler's timer fires next (zero: none),
	// so that Enqueue wakes it only when a new entry changes its plan.
	wakeAt time.Time
}

// item is one entry in memory.
type item struct {
	env  *envelope // replaced whole, never modified; under Queue.mu
	size int64
	busy bool // a worker is delivering it; under Queue.mu

	fileMu sync.Mutex // serialises changes to the entry's files
	gone   bool       // the files were removed; under fileMu
}

// Open opens the queue in dir, creating the folder if needed, and loads
// the entries found there. Leftover temp files are removed, messages
// without an envelope (a crash inside Enqueue) are removed, and corrupt
// records are moved to dir/corrupt.
func Open(dir string, opts Options) (*Queue, error) {
	q := &Queue{
		dir:     dir,
		opts:    withDefaults(opts),
		wake:    make(chan struct{}, 1),
		items:   map[string]*item{},
		workers: map[string]int{},
		down:    map[string]bool{},
		probing: map[string]bool{},
		noTLS:   map[string]time.Time{},
	}
	q.log, q.clock = q.opts.Logger, q.opts.Clock
	err := os.MkdirAll(filepath.Join(dir, corruptDir), 0o700)
	if err != nil {
		return nil, fmt.Errorf("relayq: %w", err)
	}
	if err := q.load(); err != nil {
		return nil, fmt.Errorf("relayq: %w", err)
	}
	return q, nil
}

func withDefaults(o Options) Options {
	if o.Config == nil {
		o.Config = func() *conf.Config { return nil }
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Clock == nil {
		o.Clock = realClock{}
	}
	if o.Resolver == nil {
		o.Resolver = net.DefaultResolver
	}
	o.MXPort = cmp.Or(o.MXPort, "25")
	return o
}

// load reads every record in the queue folder into memory.
func (q *Queue) load() error {
	names, err := readNames(q.dir)
	if err != nil {
		return err
	}
	for name := range names {
		q.loadName(name, names)
	}
	return store.SyncDir(q.dir)
}

func readNames(dir string) (map[string]bool, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	names := map[string]bool{}
	for _, e := range ents {
		if e.Type().IsRegular() {
			names[e.Name()] = true
		}
	}
	return names, nil
}

// loadName handles one file found by load.
func (q *Queue) loadName(name string, names map[string]bool) {
	p := filepath.Join(q.dir, name)
	switch {
	case strings.HasSuffix(name, tmpSuffix):
		os.Remove(p) // an envelope write that never completed
	case strings.HasSuffix(name, msgSuffix):
		id := strings.TrimSuffix(name, msgSuffix)
		if !names[id+envSuffix] {
			// Enqueue never finished, so intake never answered 250.
			q.log.Warn("queue: removing message without envelope",
				"file", p)
			os.Remove(p)
		}
	case strings.HasSuffix(name, envSuffix):
		q.loadEntry(strings.TrimSuffix(name, envSuffix))
	}
}

// loadEntry loads one entry, moving it aside if it is unusable.
func (q *Queue) loadEntry(id string) {
	env, err := readEnvelope(envPath(q.dir, id))
	var fi os.FileInfo
	if err == nil {
		fi, err = os.Stat(msgPath(q.dir, id))
	}
	if err != nil {
		q.moveCorrupt(id, err)
		return
	}
	q.items[id] = &item{env: env, size: fi.Size()}
}

// moveCorrupt moves an entry's files to the corrupt/ subfolder. The
// names keep their ID so an operator can match them up.
func (q *Queue) moveCorrupt(id string, why error) {
	q.log.Error("queue: corrupt entry moved aside", "id", id,
		"dir", filepath.Join(q.dir, corruptDir), "err", why)
	for _, name := range []string{id + envSuffix, id + msgSuffix} {
		err := os.Rename(filepath.Join(q.dir, name),
			filepath.Join(q.dir, corruptDir, name))
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			q.log.Error("queue: cannot move corrupt file", "err", err)
		}
	}
	store.SyncDir(filepath.Join(q.dir, corruptDir))
}

// Enqueue adds a message to the queue for the primary of d, the domain
// as the configuration snapshot the message was accepted under has it
// (its relay host is recorded, so a reload racing the intake cannot
// leave the entry without one): it hard-links msgPath (a committed,
// fsynced file) into the queue, writes the envelope record and fsyncs
// the folder. from is the reverse-path ("" for the null sender), rcpts
// the forward-paths. On error nothing is left behind. Enqueue is safe
// for concurrent callers.
func (q *Queue) Enqueue(msgFile string, d *conf.Domain, from string,
	rcpts []string) (string, error) {
	return q.enqueue(msgFile, "", d.Name, d.Relay, from, rcpts)
}

// EnqueueOutbound is Enqueue for the outbound route: rcpts are in
// domain, which is not one of ours, and the entry goes to the
// smarthost or to domain's MX hosts.
func (q *Queue) EnqueueOutbound(msgFile, domain, from string,
	rcpts []string) (string, error) {
	return q.enqueue(msgFile, routeOutbound, domain, "", from, rcpts)
}

func (q *Queue) enqueue(msgFile, route, domain, relay, from string,
	rcpts []string) (string, error) {
	env, err := q.newEnvelope(route, domain, relay, from, rcpts)
	if err != nil {
		return "", err
	}
	dst := msgPath(q.dir, env.ID)
	if err := os.Link(msgFile, dst); err != nil {
		return "", fmt.Errorf("relayq: enqueue: %w", err)
	}
	fi, err := os.Stat(dst)
	if err == nil {
		err = writeEnvelope(q.dir, env)
	}
	if err != nil {
		q.removeFiles(env.ID)
		return "", fmt.Errorf("relayq: enqueue: %w", err)
	}
	q.mu.Lock()
	q.items[env.ID] = &item{env: env, size: fi.Size()}
	// While a primary is down each new entry waits for the watcher or
	// the retry timer; waking the scheduler anyway costs a scan of the
	// whole queue per message, which slows intake as the queue grows.
	wake := !env.NextAttempt.After(env.Arrived) || q.wakeAt.IsZero() ||
		env.NextAttempt.Before(q.wakeAt)
	q.mu.Unlock()
	q.log.Info("queued", "id", env.ID, "domain", env.Domain,
		"route", env.routeName(), "relay", env.Relay,
		"rcpts", len(rcpts), "size", fi.Size())
	if wake {
		q.kick()
	}
	return env.ID, nil
}

// newEnvelope validates Enqueue's arguments and makes the record.
func (q *Queue) newEnvelope(route, domain, relay, from string,
	rcpts []string) (*envelope, error) {
	now := q.clock.Now()
	env := &envelope{
		ID:          newID(now),
		Route:       route,
		Domain:      strings.ToLower(strings.TrimSuffix(domain, ".")),
		Sender:      from,
		Arrived:     now,
		NextAttempt: now,
	}
	env.Version = env.version()
	if !env.outbound() && q.isDown(env.Domain) {
		// The watcher flushes the domain when its primary returns;
		// no connection attempt per message meanwhile.
		env.NextAttempt = now.Add(q.retryFor(env))
	}
	if !env.outbound() {
		env.Relay = relay
	}
	for _, r := range rcpts {
		env.Rcpts = append(env.Rcpts, rcpt{Addr: r, State: statePending})
	}
	if err := env.validate(); err != nil {
		return nil, fmt.Errorf("relayq: enqueue: %w", err)
	}
	return env, nil
}

// Cancel removes an entry made by Enqueue; intake calls it to roll back
// when a later step fails.
//
// TODO: an entry may already be on its way to the primary when Cancel
// runs (Enqueue wakes the workers); the files go, but that one delivery
// cannot be recalled. A two-step enqueue (stage, then commit) would
// close the window; the intake contract has one step for now.
func (q *Queue) Cancel(id string) error {
	return q.remove(id, "cancelled")
}

// Remove deletes an entry for the operator, delivered or not.
func (q *Queue) Remove(id string) error {
	return q.remove(id, "removed by operator")
}

func (q *Queue) remove(id, why string) error {
	if !validID(id) {
		return ErrNotFound
	}
	q.mu.Lock()
	it := q.items[id]
	delete(q.items, id)
	var domain string
	if it != nil {
		domain = it.env.Domain
	}
	q.mu.Unlock()
	if it == nil {
		return ErrNotFound
	}
	it.fileMu.Lock()
	defer it.fileMu.Unlock()
	if it.gone {
		return ErrNotFound
	}
	it.gone = true
	q.log.Info("queue entry "+why, "id", id, "domain", domain)
	return q.removeFiles(id)
}

// Release gives a held entry another chance: its failed recipients
// become pending and it is due now. Use it once the operator has fixed
// the cause of a permanent failure at the primary.
func (q *Queue) Release(id string) error {
	q.mu.Lock()
	it := q.items[id]
	if it == nil || it.busy || !it.env.Held {
		q.mu.Unlock()
		return fmt.Errorf("relayq: release %s: %w", id, ErrNotHeld)
	}
	next := it.env.clone()
	q.mu.Unlock()
	for i := range next.Rcpts {
		if next.Rcpts[i].State == stateFailed {
			next.Rcpts[i].State = statePending
		}
	}
	next.Held, next.NextAttempt = false, q.clock.Now()
	it.fileMu.Lock()
	defer it.fileMu.Unlock()
	if it.gone {
		return ErrNotFound
	}
	if err := writeEnvelope(q.dir, next); err != nil {
		return fmt.Errorf("relayq: release %s: %w", id, err)
	}
	q.mu.Lock()
	it.env = next
	q.mu.Unlock()
	q.log.Info("queue entry released by operator", "id", id,
		"domain", next.Domain)
	q.kick()
	return nil
}

// removeFiles deletes an entry's files and makes the removal durable.
func (q *Queue) removeFiles(id string) error {
	err := errors.Join(q.unlinkFiles(id), store.SyncDir(q.dir))
	if err != nil {
		return fmt.Errorf("relayq: remove %s: %w", id, err)
	}
	return nil
}

// unlinkFiles deletes an entry's files, the record first: a message
// left alone by a crash is swept by Open, a record alone would be
// corrupt. The removal is durable only after the folder is synced; a
// delivered entry that a crash brings back is delivered again, which
// the crash test counts as a duplicate, never as a loss. A temp record
// exists only while writeEnvelope runs or after a crash, and Open sweeps
// those.
func (q *Queue) unlinkFiles(id string) error {
	var errs []error
	for _, p := range []string{envPath(q.dir, id), msgPath(q.dir, id)} {
		err := syscall.Unlink(p)
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, &os.PathError{Op: "unlink", Path: p,
				Err: err})
		}
	}
	return errors.Join(errs...)
}

// Flush makes every entry of domain ("" for all domains) due now and
// wakes the delivery workers. Held entries stay held.
func (q *Queue) Flush(domain string) {
	domain = strings.ToLower(domain)
	now := q.clock.Now()
	q.mu.Lock()
	for _, it := range q.items {
		if (domain == "" || it.env.Domain == domain) && !it.env.Held {
			e := it.env.clone()
			e.NextAttempt = now
			it.env = e
		}
	}
	q.mu.Unlock()
	q.kick()
}

// kick wakes the scheduler without blocking.
func (q *Queue) kick() {
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

// Entry describes one queue entry for the operator.
type Entry struct {
	ID     string `json:"id"`
	Domain string `json:"domain"`
	// Route is "relay" for an entry for the domain's primary,
	// "outbound" for one to the smarthost or the domain's MX hosts.
	Route string `json:"route"`
	// Sender is the reverse-path; "" is the null sender.
	Sender string `json:"sender"`
	// Recipients are the recipients not yet delivered: pending ones and
	// those in Failed.
	Recipients []string `json:"recipients"`
	// Failed are the recipients the primary refused permanently.
	Failed []string `json:"failed,omitempty"`
	// Size is the message size in bytes.
	Size        int64     `json:"size"`
	Arrived     time.Time `json:"arrived"`
	Attempts    int       `json:"attempts"`
	NextAttempt time.Time `json:"next_attempt"`
	LastError   string    `json:"last_error,omitempty"`
	// Held entries wait for the operator and are not retried.
	Held bool `json:"held"`
}

func (e *envelope) entry(size int64) Entry {
	var left []string
	for _, r := range e.Rcpts {
		if r.State != stateDone {
			left = append(left, r.Addr)
		}
	}
	return Entry{
		ID: e.ID, Domain: e.Domain, Route: e.routeName(),
		Sender:     e.Sender,
		Recipients: left, Failed: e.addrs(stateFailed), Size: size,
		Arrived: e.Arrived, Attempts: e.Attempts,
		NextAttempt: e.NextAttempt, LastError: e.LastError,
		Held: e.Held,
	}
}

// List returns the entries of domain ("" for all), oldest first, as
// the running queue knows them.
func (q *Queue) List(domain string) ([]Entry, error) {
	domain = strings.ToLower(domain)
	var out []Entry
	q.mu.Lock()
	for _, it := range q.items {
		if domain == "" || it.env.Domain == domain {
			out = append(out, it.env.entry(it.size))
		}
	}
	q.mu.Unlock()
	sortEntries(out)
	return out, nil
}

// ReadDir lists the entries of domain ("" for all) in the queue folder
// dir, oldest first, reading only the files. It changes nothing, so
// another process may call it while a server runs on the folder; it
// skips records it cannot read (Open moves those aside). A missing
// folder is an empty queue.
func ReadDir(dir, domain string) ([]Entry, error) {
	domain = strings.ToLower(domain)
	names, err := readNames(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	} else if err != nil {
		return nil, fmt.Errorf("relayq: %w", err)
	}
	var out []Entry
	for name := range names {
		id, ok := strings.CutSuffix(name, envSuffix)
		if !ok {
			continue
		}
		env, err := readEnvelope(filepath.Join(dir, name))
		if err != nil || domain != "" && env.Domain != domain {
			continue // gone since the listing, corrupt or not asked for
		}
		fi, err := os.Stat(msgPath(dir, id))
		if err != nil {
			continue
		}
		out = append(out, env.entry(fi.Size()))
	}
	sortEntries(out)
	return out, nil
}

func sortEntries(es []Entry) {
	slices.SortFunc(es, func(a, b Entry) int {
		return cmp.Or(a.Arrived.Compare(b.Arrived),
			strings.Compare(a.ID, b.ID))
	})
}

// routeName names e's route for the log and the operator.
func (e *envelope) routeName() string {
	if e.outbound() {
		return routeOutbound
	}
	return "relay"
}

// lookupDomain finds name in cfg, or returns nil.
func lookupDomain(cfg *conf.Config, name string) *conf.Domain {
	if cfg == nil {
		return nil
	}
	for _, d := range cfg.Domains {
		if strings.EqualFold(d.Name, name) {
			return d
		}
	}
	return nil
}
