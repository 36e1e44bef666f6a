package main

import (
	"fmt"
	"log/slog"
	"path/filepath"
	"slices"
	"strings"

	"github.com/stratamail/continuity/conf"
	"github.com/stratamail/continuity/monitor"
	"github.com/stratamail/continuity/relayq"
	"github.com/stratamail/continuity/store"
)

// monitorDir is the monitor's folder under data_dir.
func monitorDir(dataDir string) string {
	return filepath.Join(dataDir, "monitor")
}

// newMonitor sets up the monitoring of primaries: a recovery flushes the
// domain's queue at once, and alert emails go out as mail the server
// writes itself (see mailer).
func newMonitor(dataDir string, config func() *conf.Config,
	st *store.Store, q *relayq.Queue, log *slog.Logger) (*monitor.Monitor,
	error) {
	m := mailer{store: st, queue: q, config: config}
	return monitor.New(monitor.Options{
		Config:     config,
		Dir:        monitorDir(dataDir),
		Logger:     log,
		OnRecovery: q.Flush,
		SendMail:   m.send,
	})
}

// mailer sends the messages the server writes itself (alert emails)
// the way intake routes mail: into the shadow mailbox of a user of ours,
// to the relay queue for the other addresses of our domains, and on the
// outbound route (smarthost or MX) for everyone else.
type mailer struct {
	store  *store.Store
	queue  *relayq.Queue
	config func() *conf.Config
}

// send makes msg durable in every place its recipients need, or in
// none: a failure takes back what was done, so a retry sends it once.
func (m mailer) send(from string, to []string, msg []byte) (err error) {
	sp, err := m.store.NewSpool()
	if err != nil {
		return err
	}
	defer sp.Discard()
	if _, err := sp.Write(msg); err != nil {
		return err
	}
	if err := sp.Commit(); err != nil {
		return err
	}
	local, groups, err := route(m.config(), to)
	if err != nil {
		return err
	}
	var ids []string
	var d *store.Delivery
	defer func() {
		if err == nil {
			return
		}
		for _, id := range ids {
			m.queue.Cancel(id)
		}
		if d != nil {
			d.Undo()
		}
	}()
	if len(local) > 0 {
		if d, err = m.store.DeliverNew(sp, local); err != nil {
			return err
		}
	}
	for _, g := range groups {
		var id string
		if g.dom == nil {
			id, err = m.queue.EnqueueOutbound(sp.Path(), g.domain, from,
				g.rcpts)
		} else {
			id, err = m.queue.Enqueue(sp.Path(), g.dom, from, g.rcpts)
		}
		if err != nil {
			return err
		}
		ids = append(ids, id)
	}
	return nil
}

// rcptGroup is the recipients of one queue entry.
type rcptGroup struct {
	domain string
	dom    *conf.Domain // nil on the outbound route
	rcpts  []string
}

// route splits to into shadow mailboxes to deliver to and queue
// entries to make, one per domain.
func route(cfg *conf.Config, to []string) ([]string, []rcptGroup, error) {
	var local []string
	var groups []rcptGroup
	add := func(domain string, dom *conf.Domain, rcpt string) {
		for i := range groups {
			if groups[i].domain == domain && groups[i].dom == dom {
				groups[i].rcpts = append(groups[i].rcpts, rcpt)
				return
			}
		}
		groups = append(groups, rcptGroup{domain, dom, []string{rcpt}})
	}
	for _, rcpt := range to {
		dom, user := cfg.Lookup(rcpt)
		switch {
		case dom == nil:
			_, domain, ok := strings.Cut(rcpt, "@")
			if !ok {
				return nil, nil, fmt.Errorf("%q has no domain", rcpt)
			}
			add(strings.ToLower(domain), nil, rcpt)
			continue
		case dom.Mode.Stores() && user == nil:
			return nil, nil, fmt.Errorf("%s: no such user in %s",
				rcpt, dom.Name)
		case dom.Mode.Stores() && !slices.Contains(local, user.Address):
			local = append(local, user.Address)
		}
		if dom.Mode.Relays() {
			add(dom.Name, dom, rcpt)
		}
	}
	return local, groups, nil
}
