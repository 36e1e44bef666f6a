package portal

import (
	"fmt"
	"io"
	"maps"
	"net/http"
	"slices"
	"strings"

	"github.com/stratamail/continuity/monitor"
)

// metricsContentType is the Prometheus text exposition format 0.0.4.
const metricsContentType = "text/plain; version=0.0.4; charset=utf-8"

// metrics answers /metrics. Loopback clients need no login (a local
// Prometheus scrapes without one), nor anyone with metrics_public;
// others need a session.
func (s *Server) metrics(w http.ResponseWriter, r *http.Request) {
	if !fromLoopback(r) && !s.opts.Config().Portal.MetricsPublic &&
		s.current(r) == nil {
		http.Error(w, "log in first, or scrape from loopback",
			http.StatusUnauthorized)
		return
	}
	w.Header().Set("Content-Type", metricsContentType)
	s.writeMetrics(w)
}

// metricWriter writes metric families, each with its HELP and TYPE.
type metricWriter struct {
	w   io.Writer
	err error
}

// family writes the HELP and TYPE lines of name.
func (m *metricWriter) family(name, typ, help string) {
	m.printf("# HELP %s %s\n# TYPE %s %s\n", name, help, name, typ)
}

// sample writes one sample of name with one label, or none if label
// is "".
func (m *metricWriter) sample(name, label, value string, v any) {
	if label == "" {
		m.printf("%s %v\n", name, v)
		return
	}
	m.printf("%s{%s=\"%s\"} %v\n", name, label, escapeLabel(value), v)
}

// counts writes a family of counters by one label, in label order.
func (m *metricWriter) counts(name, label, help string,
	c map[string]uint64) {
	m.family(name, "counter", help)
	for _, k := range slices.Sorted(maps.Keys(c)) {
		m.sample(name, label, k, c[k])
	}
}

func (m *metricWriter) printf(format string, args ...any) {
	if m.err == nil {
		_, m.err = fmt.Fprintf(m.w, format, args...)
	}
}

// labelEscaper escapes a label value as the text format requires.
var labelEscaper = strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`)

func escapeLabel(s string) string { return labelEscaper.Replace(s) }

// writeMetrics writes every metric to w.
func (s *Server) writeMetrics(w io.Writer) error {
	m := &metricWriter{w: w}
	if s.opts.Counters != nil {
		c := s.opts.Counters()
		m.counts("stratamail_smtp_messages_total", "result",
			"SMTP transactions by how they ended.", c.SMTPMessages)
		m.counts("stratamail_smtp_refused_total", "reason",
			"SMTP commands and messages refused, by reason.",
			c.SMTPRefused)
		m.family("stratamail_imap_sessions", "gauge",
			"IMAP connections open now.")
		m.sample("stratamail_imap_sessions", "", "", c.IMAPSessions)
		m.counts("stratamail_imap_logins_total", "result",
			"IMAP logins by result.", c.IMAPLogins)
	}
	s.queueMetrics(m)
	s.primaryMetrics(m)
	return m.err
}

// queueMetrics writes the queue's sizes, ages and delivery counters.
// Every domain that relays is listed, empty ones with 0.
func (s *Server) queueMetrics(m *metricWriter) {
	st := s.opts.Queue.Stats()
	now := s.now()
	domains := map[string]bool{}
	for _, d := range s.opts.Config().Domains {
		if d.Mode.Relays() {
			domains[d.Name] = true
		}
	}
	for d := range st.Domains {
		domains[d] = true
	}
	names := slices.Sorted(maps.Keys(domains))
	m.family("stratamail_queue_messages", "gauge",
		"Messages in the relay queue, by domain.")
	for _, d := range names {
		m.sample("stratamail_queue_messages", "domain", d,
			st.Domains[d].Messages)
	}
	m.family("stratamail_queue_held_messages", "gauge",
		"Held messages in the relay queue, by domain.")
	for _, d := range names {
		m.sample("stratamail_queue_held_messages", "domain", d,
			st.Domains[d].Held)
	}
	m.family("stratamail_queue_oldest_age_seconds", "gauge",
		"Age of the oldest message in the relay queue, by domain; "+
			"0 when empty.")
	for _, d := range names {
		var secs int64
		if o := st.Domains[d].Oldest; !o.IsZero() {
			secs = int64(max(now.Sub(o).Seconds(), 0))
		}
		m.sample("stratamail_queue_oldest_age_seconds", "domain", d,
			secs)
	}
	m.family("stratamail_outbound_queue_messages", "gauge",
		"Messages on the outbound route (replies, alerts, bounces to "+
			"other domains).")
	m.printf("stratamail_outbound_queue_messages %d\n",
		st.Outbound.Messages)
	m.counts("stratamail_deliveries_total", "result",
		"Delivery attempts (to primaries and on the outbound route), by outcome.", st.Deliveries)
}

// primaryMetrics writes whether each monitored primary is up; one
// whose state is not known yet is left out.
func (s *Server) primaryMetrics(m *metricWriter) {
	m.family("stratamail_primary_up", "gauge",
		"1 if the domain's primary answers the monitor's probes, "+
			"0 if it is down.")
	now := s.now()
	for _, d := range s.opts.Config().Domains {
		if !d.Monitor {
			continue
		}
		switch s.opts.Monitor.Report(d.Name, now).State {
		case monitor.StateUp:
			m.sample("stratamail_primary_up", "domain", d.Name, 1)
		case monitor.StateDown:
			m.sample("stratamail_primary_up", "domain", d.Name, 0)
		}
	}
}
