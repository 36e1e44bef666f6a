// Package monitor owns the monitoring of primaries: it probes the relay
// host of every domain with monitor = true each probe interval, declares
// outages and recoveries after runs of failed or good probes, keeps
// their history on disk, computes uptime from it and alerts operators
// by email and webhook.
//
// monitor reads the configuration snapshot it is handed each round and
// never writes it. It imports conf and relayq (for the probe) and never
// the protocol packages; it sends mail only through Options.SendMail
// and never touches the queue except through Options.OnRecovery.
package monitor

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/stratamail/continuity/conf"
	"github.com/stratamail/continuity/relayq"
)

// Clock is the source of time for probe rounds and alert retries, so
// that tests can drive them without sleeping. relayq.Clock is one.
type Clock interface {
	// Now returns the current time.
	Now() time.Time
	// After returns a channel that receives once d has passed.
	After(d time.Duration) <-chan time.Time
}

// Defaults of Options.
const (
	DefaultAlertAttempts   = 5
	DefaultAlertRetryDelay = 30 * time.Second
	DefaultWebhookTimeout  = 10 * time.Second
)

// Options configures a Monitor. Config and Dir are required.
type Options struct {
	// Config returns the current configuration snapshot. It is read
	// once per round: domains added with monitor = true are probed
	// from the next round, removed ones are no longer, and a changed
	// relay host is probed from then on.
	Config func() *conf.Config
	// Dir is the monitor's folder (data_dir/monitor), created if need
	// be; it holds the history file.
	Dir string
	// Logger receives one line per event; default slog.Default().
	Logger *slog.Logger
	// Clock supplies the time and timers; default the real clock.
	Clock Clock
	// Probe checks relay; nil when it takes an SMTP session. Default:
	// relayq.Probe with server.hostname.
	Probe func(ctx context.Context, relay string) error
	// OnRecovery, if set, is called when a primary is declared up
	// after an outage (cmd flushes the domain's queue).
	OnRecovery func(domain string)
	// SendMail sends an alert email; an error makes it retry.
	SendMail func(from string, to []string, msg []byte) error
	// HTTPClient posts the webhook; default one with a
	// DefaultWebhookTimeout timeout.
	HTTPClient *http.Client
	// AlertAttempts bounds the tries of each alert, AlertRetryDelay is
	// the wait after the first failure, doubled after each next one.
	AlertAttempts   int
	AlertRetryDelay time.Duration
}

// Monitor probes the monitored primaries. Its methods are safe for
// concurrent use.
type Monitor struct {
	opts   Options
	log    *slog.Logger
	clock  Clock
	path   string         // the history file
	alerts sync.WaitGroup // alerts being sent

	mu       sync.Mutex
	trackers map[string]*tracker // by domain
	history  []Event             // in time order
}

// New opens the monitor's folder and loads its history, so that each
// domain starts in the state it was last in.
func New(opts Options) (*Monitor, error) {
	if opts.Config == nil || opts.Dir == "" {
		return nil, errors.New("monitor: Config and Dir are required")
	}
	m := &Monitor{opts: withDefaults(opts), trackers: map[string]*tracker{},
		path: filepath.Join(opts.Dir, HistoryFile)}
	m.log, m.clock = m.opts.Logger, m.opts.Clock
	if m.opts.Probe == nil {
		m.opts.Probe = m.probe
	}
	if err := os.MkdirAll(opts.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("monitor: %w", err)
	}
	h, err := loadHistory(m.path, m.clock.Now(), m.log)
	if err != nil {
		return nil, fmt.Errorf("monitor: %w", err)
	}
	m.history = h
	for _, e := range h {
		m.trackers[e.Domain] = &tracker{domain: e.Domain,
			relay: e.Relay, state: e.State, since: e.Time}
	}
	return m, nil
}

func withDefaults(o Options) Options {
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Clock == nil {
		o.Clock = realClock{}
	}
	if o.HTTPClient == nil {
		o.HTTPClient = &http.Client{Timeout: DefaultWebhookTimeout}
	}
	o.AlertAttempts = cmp.Or(o.AlertAttempts, DefaultAlertAttempts)
	o.AlertRetryDelay = cmp.Or(o.AlertRetryDelay, DefaultAlertRetryDelay)
	return o
}

// realClock is the Clock of the wall.
type realClock struct{}

func (realClock) Now() time.Time { return time.Now() }

func (realClock) After(d time.Duration) <-chan time.Time {
	return time.After(d)
}

// Run probes every probe interval until ctx is done, then waits for
// the alerts being sent to give up and returns nil. Run may be called
// once per Monitor.
func (m *Monitor) Run(ctx context.Context) error {
	defer m.alerts.Wait()
	for {
		m.round(ctx)
		select {
		case <-ctx.Done():
			return nil
		case <-m.clock.After(probeInterval(m.opts.Config())):
		}
	}
}

// probeInterval returns server.probe_interval of cfg.
func probeInterval(cfg *conf.Config) time.Duration {
	if cfg == nil || cfg.Server.ProbeInterval <= 0 {
		return conf.DefaultProbeInterval
	}
	return cfg.Server.ProbeInterval
}

// probeTimeout bounds a probe and each of its steps: a probe interval,
// but at least 5s (a loaded primary greets slowly) and at most 30s.
func probeTimeout(cfg *conf.Config) time.Duration {
	return min(max(probeInterval(cfg), 5*time.Second), 30*time.Second)
}

// probe is the default Options.Probe.
func (m *Monitor) probe(ctx context.Context, relay string) error {
	cfg := m.opts.Config()
	host := "localhost"
	if cfg != nil && cfg.Server.Hostname != "" {
		host = cfg.Server.Hostname
	}
	return relayq.Probe(ctx, relay, host, probeTimeout(cfg))
}

// result is one probe's outcome.
type result struct {
	domain, relay string
	at            time.Time
	err           error
}

// round probes every monitored primary at once, waits for all the
// probes and records their results.
func (m *Monitor) round(ctx context.Context) {
	cfg := m.opts.Config()
	if cfg == nil {
		return
	}
	targets := monitored(cfg)
	m.forget(targets)
	results := make([]result, 0, len(targets))
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, d := range slices.Sorted(maps.Keys(targets)) {
		wg.Go(func() {
			r := result{domain: d, relay: targets[d], at: m.clock.Now()}
			r.err = m.opts.Probe(ctx, r.relay)
			mu.Lock()
			results = append(results, r)
			mu.Unlock()
		})
	}
	wg.Wait()
	if ctx.Err() != nil {
		return // probes cut short by the shutdown say nothing
	}
	slices.SortFunc(results, func(a, b result) int {
		return cmp.Compare(a.domain, b.domain)
	})
	for _, r := range results {
		m.record(ctx, cfg, r)
	}
}

// monitored returns the relay host of each domain of cfg with
// monitor = true, by domain.
func monitored(cfg *conf.Config) map[string]string {
	out := map[string]string{}
	for _, d := range cfg.Domains {
		if d.Monitor && d.Relay != "" {
			out[d.Name] = d.Relay
		}
	}
	return out
}

// record feeds a probe's result to its domain's tracker and acts on the
// transition it completes.
func (m *Monitor) record(ctx context.Context, cfg *conf.Config, r result) {
	m.mu.Lock()
	tr := m.trackers[r.domain]
	if tr == nil {
		tr = &tracker{domain: r.domain, relay: r.relay,
			state: StateUnknown}
		m.trackers[r.domain] = tr
	}
	if tr.relay != r.relay {
		m.log.Info("monitor: relay host changed; probing the new one",
			"domain", r.domain, "old_relay", tr.relay, "relay", r.relay)
		tr.relay = r.relay
		tr.reset()
	}
	if r.err != nil {
		m.log.Debug("monitor: probe failed", "domain", r.domain,
			"relay", r.relay, "err", r.err)
	}
	c, changed := tr.observe(r.at, r.err, cfg.Monitor)
	if changed {
		m.commit(c.ev)
	}
	m.mu.Unlock()
	if changed {
		m.announce(ctx, cfg, c)
	}
}

// forget ends the monitoring of the domains with a tracker that are not
// in targets: their state becomes unknown from now on.
func (m *Monitor) forget(targets map[string]string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for d, tr := range m.trackers {
		if _, ok := targets[d]; ok {
			continue
		}
		delete(m.trackers, d)
		if tr.state == StateUnknown {
			continue
		}
		e := Event{Time: m.clock.Now(), Domain: d, Relay: tr.relay,
			State: StateUnknown, Reason: "no longer monitored"}
		m.commit(e)
		m.log.Info("monitor: domain no longer monitored", "domain", d,
			"relay", tr.relay, "state", e.State, "since", e.Time,
			"reason", e.Reason)
	}
}

// commit adds e to the history, in memory and on disk. m.mu is held.
//
// TODO: the history in memory is trimmed to 90 days only at start;
// a server that runs for months keeps every change since. Changes are
// rare (a few a day even for a flapping primary), so this is small.
func (m *Monitor) commit(e Event) {
	i, _ := slices.BinarySearchFunc(m.history, e, func(a, b Event) int {
		return cmp.Or(a.Time.Compare(b.Time), -1) // after equal times
	})
	m.history = slices.Insert(m.history, i, e)
	if err := appendEvent(m.path, e); err != nil {
		// TODO: keep the event and retry the append; until then the
		// state change is lost at the next restart.
		m.log.Error("monitor: history not saved", "file", m.path,
			"domain", e.Domain, "state", e.State, "err", err)
	}
}

// announce logs the change c and sends its alerts; a recovery also
// calls OnRecovery.
func (m *Monitor) announce(ctx context.Context, cfg *conf.Config,
	c change) {
	e := c.ev
	level, msg := slog.LevelInfo, "monitor: primary up"
	if e.State == StateDown {
		level, msg = slog.LevelWarn, "monitor: primary down"
	}
	m.log.Log(ctx, level, msg, "domain", e.Domain, "relay", e.Relay,
		"state", e.State, "since", e.Time, "reason", e.Reason,
		"previous", c.prev)
	if a, ok := newAlert(c, cfg.Server.Hostname, m.clock.Now()); ok {
		m.alert(ctx, a, cfg.Alerts)
	}
	if e.State == StateUp && c.prev == StateDown &&
		m.opts.OnRecovery != nil {
		m.opts.OnRecovery(e.Domain)
	}
}

// Report returns what the history says of domain's primary at now.
func (m *Monitor) Report(domain string, now time.Time) Report {
	m.mu.Lock()
	defer m.mu.Unlock()
	return Compute(m.history, domain, now)
}

// Timeline returns domain's states from from to now, as the package
// function Timeline does with the history.
func (m *Monitor) Timeline(domain string, from, now time.Time) []Span {
	m.mu.Lock()
	defer m.mu.Unlock()
	return Timeline(m.history, domain, from, now)
}
