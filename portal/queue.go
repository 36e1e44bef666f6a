package portal

import (
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/stratamail/continuity/monitor"
	"github.com/stratamail/continuity/relayq"
)

// domainRow is one line of the domain list.
type domainRow struct {
	Name, Mode, Relay string
	Configured        bool // false: removed, its queue draining
	Monitored         bool
	State             monitor.State
	Since             string // how long the state has lasted
	Uptime24h         string
	Messages, Held    int
	Oldest            string // the oldest entry's age, or ""
}

// domainsPage lists the domains with their status and queue.
func (s *Server) domainsPage(w http.ResponseWriter, r *http.Request,
	sess *session) {
	cfg, now := s.opts.Config(), s.now()
	qs := s.opts.Queue.Stats().Domains
	var rows []domainRow
	for _, d := range cfg.Domains {
		row := domainRow{Name: d.Name, Mode: string(d.Mode),
			Relay: d.Relay, Configured: true, Monitored: d.Monitor,
			State: monitor.StateUnknown}
		if d.Monitor {
			rep := s.opts.Monitor.Report(d.Name, now)
			row.State = rep.State
			if !rep.Since.IsZero() {
				row.Since = age(now.Sub(rep.Since))
			}
			row.Uptime24h = percent(rep.Uptime[0])
		}
		rows = append(rows, withQueue(row, qs[d.Name], now))
	}
	for name, q := range qs { // domains removed from the file
		if cfg.Domain(name) == nil {
			rows = append(rows, withQueue(domainRow{Name: name,
				State: monitor.StateUnknown}, q, now))
		}
	}
	slices.SortStableFunc(rows[len(cfg.Domains):], func(a,
		b domainRow) int {
		return strings.Compare(a.Name, b.Name)
	})
	s.page(w, r, sess, "domains", "Domains", rows)
}

// withQueue fills row's queue columns from q.
func withQueue(row domainRow, q relayq.DomainStats,
	now time.Time) domainRow {
	row.Messages, row.Held = q.Messages, q.Held
	if !q.Oldest.IsZero() {
		row.Oldest = age(now.Sub(q.Oldest))
	}
	return row
}

// entryRow is one queue entry as the Queue Manager shows it.
type entryRow struct {
	relayq.Entry
	Age, Next, Size string
}

// queueView is the Queue Manager page of one domain.
type queueView struct {
	Domain  string
	Entries []entryRow // the oldest maxRows
	Total   int
	Held    int
}

// maxRows bounds the entries one Queue Manager page lists.
//
// TODO: page through a longer queue (and search it by sender or
// recipient); until then only the oldest maxRows are listed, while
// flush all and delete all act on every entry.
var maxRows = 1000 // a variable for the tests

// domainOf returns the {domain} of r's path in lower case if the
// domain is configured or has queue entries; otherwise it answers 404
// and returns "".
func (s *Server) domainOf(w http.ResponseWriter, r *http.Request) string {
	name := strings.ToLower(r.PathValue("domain"))
	if s.opts.Config().Domain(name) != nil {
		return name
	}
	if _, ok := s.opts.Queue.Stats().Domains[name]; ok {
		return name
	}
	http.Error(w, "no such domain", http.StatusNotFound)
	return ""
}

// queuePage lists a domain's queue entries.
func (s *Server) queuePage(w http.ResponseWriter, r *http.Request,
	sess *session) {
	domain := s.domainOf(w, r)
	if domain == "" {
		return
	}
	entries, err := s.opts.Queue.List(domain)
	if err != nil {
		s.serverError(w, r, err)
		return
	}
	v := queueView{Domain: domain, Total: len(entries)}
	now := s.now()
	for i, e := range entries {
		if i < maxRows {
			v.Entries = append(v.Entries, rowOf(e, now))
		}
		if e.Held {
			v.Held++
		}
	}
	s.page(w, r, sess, "queue", "Queue of "+domain, v)
}

// rowOf formats the entry e for a table at now.
func rowOf(e relayq.Entry, now time.Time) entryRow {
	row := entryRow{Entry: e, Age: age(now.Sub(e.Arrived)),
		Size: size(e.Size)}
	switch {
	case e.Held:
		row.Next = "held"
	case e.NextAttempt.IsZero() || !e.NextAttempt.After(now):
		row.Next = "now"
	default:
		row.Next = "in " + age(e.NextAttempt.Sub(now))
	}
	return row
}

// entryView is the detail page of one entry.
type entryView struct {
	Domain string
	Entry  entryRow
	Header string
}

// entryPage shows one entry with its message's header section.
func (s *Server) entryPage(w http.ResponseWriter, r *http.Request,
	sess *session) {
	domain := s.domainOf(w, r)
	if domain == "" {
		return
	}
	e, ok := s.find(domain, r.PathValue("id"))
	if !ok {
		http.Error(w, "no such queue entry", http.StatusNotFound)
		return
	}
	v := entryView{Domain: domain, Entry: rowOf(e, s.now())}
	if s.opts.QueueDir != "" {
		_, hdr, err := relayq.ReadEntry(s.opts.QueueDir, e.ID)
		if errors.Is(err, relayq.ErrNotFound) {
			http.Error(w, "no such queue entry", http.StatusNotFound)
			return
		} else if err != nil {
			s.serverError(w, r, err)
			return
		}
		v.Header = strings.ToValidUTF8(string(hdr), "\uFFFD")
	}
	s.page(w, r, sess, "entry", "Queue entry "+e.ID, v)
}

// find returns the entry id of domain's queue.
func (s *Server) find(domain, id string) (relayq.Entry, bool) {
	entries, _ := s.opts.Queue.List(domain)
	for _, e := range entries {
		if e.ID == id {
			return e, true
		}
	}
	return relayq.Entry{}, false
}

// confirmView is the page that asks before a deletion.
type confirmView struct {
	Domain, Op, ID, Question string
}

// queueAction runs one action of the Queue Manager's forms: flush,
// hold, release or delete an entry, flush-all or delete-all of a
// domain. Deletions ask first, in a form of their own.
func (s *Server) queueAction(w http.ResponseWriter, r *http.Request,
	sess *session) {
	domain := s.domainOf(w, r)
	if domain == "" {
		return
	}
	op, id := r.PostFormValue("op"), r.PostFormValue("id")
	if (op == "delete" || op == "delete-all") &&
		r.PostFormValue("confirm") != "yes" {
		q := "Delete every entry of " + domain + "'s queue?"
		if op == "delete" {
			q = "Delete queue entry " + id + "?"
		}
		s.page(w, r, sess, "confirm", "Confirm",
			confirmView{Domain: domain, Op: op, ID: id, Question: q})
		return
	}
	msg, err := s.act(domain, op, id)
	outcome := "ok"
	if err != nil {
		outcome, msg = "failed", err.Error()
	}
	s.log.Info("portal queue action", "operator", sess.operator,
		"domain", domain, "op", op, "id", id, "outcome", outcome,
		"result", msg)
	s.flash(sess, msg)
	http.Redirect(w, r, "/queue/"+domain, http.StatusSeeOther)
}

// errBadOp answers an unknown action.
var errBadOp = errors.New("unknown action")

// act runs the action op on domain's entry id (or on all its entries)
// and describes what it did.
func (s *Server) act(domain, op, id string) (string, error) {
	q := s.opts.Queue
	switch op {
	case "flush-all":
		q.Flush(domain)
		return "Flushed " + domain + ": every entry not held is " +
			"due now.", nil
	case "delete-all":
		return s.deleteAll(domain)
	case "flush", "hold", "release", "delete":
	default:
		return "", errBadOp
	}
	if _, ok := s.find(domain, id); !ok {
		return "", fmt.Errorf("entry %q is not in %s's queue "+
			"(delivered or removed)", id, domain)
	}
	do := map[string]func(string) error{"flush": q.Retry,
		"hold": q.Hold, "release": q.Release, "delete": q.Remove}[op]
	if err := do(id); err != nil {
		return "", fmt.Errorf("%s %s: %s", op, id, plain(err))
	}
	done := map[string]string{"flush": "is due now", "hold": "is held",
		"release": "is released and due now", "delete": "is deleted"}
	return "Entry " + id + " " + done[op] + ".", nil
}

// deleteAll removes every entry of domain.
func (s *Server) deleteAll(domain string) (string, error) {
	entries, err := s.opts.Queue.List(domain)
	if err != nil {
		return "", err
	}
	n := 0
	var errs []error
	for _, e := range entries {
		err := s.opts.Queue.Remove(e.ID)
		switch {
		case err == nil:
			n++
		case !errors.Is(err, relayq.ErrNotFound): // gone already
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return "", fmt.Errorf("deleted %d entries of %s; %s", n,
			domain, plain(err))
	}
	return fmt.Sprintf("Deleted %d entries of %s.", n, domain), nil
}

// plain returns err's text without the package prefix.
func plain(err error) string {
	return strings.TrimPrefix(err.Error(), "relayq: ")
}

// flash keeps msg for the session's next page.
func (s *Server) flash(sess *session, msg string) {
	s.mu.Lock()
	sess.flash = msg
	s.mu.Unlock()
}

// takeFlash returns and clears the session's message.
func (s *Server) takeFlash(sess *session) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	msg := sess.flash
	sess.flash = ""
	return msg
}

// age formats d for a table: "45s", "12m", "3h 5m", "2d 4h".
func age(d time.Duration) string {
	d = max(d, 0)
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm", int(d.Minutes()))
	case d < 24*time.Hour:
		return fmt.Sprintf("%dh %dm", int(d.Hours()),
			int(d.Minutes())%60)
	}
	return fmt.Sprintf("%dd %dh", int(d.Hours())/24, int(d.Hours())%24)
}

// size formats n bytes.
func size(n int64) string {
	switch {
	case n < 1<<10:
		return fmt.Sprintf("%d B", n)
	case n < 1<<20:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
}

// percent formats the uptime u, or "–" when nothing is known.
func percent(u monitor.Uptime) string {
	f, ok := u.Fraction()
	if !ok {
		return "–"
	}
	return fmt.Sprintf("%.2f %%", 100*f)
}
