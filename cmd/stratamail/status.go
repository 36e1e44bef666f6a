package main

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"text/tabwriter"
	"time"

	"github.com/stratamail/continuity/conf"
	"github.com/stratamail/continuity/monitor"
	"github.com/stratamail/continuity/relayq"
)

// domainStatus is one domain's line of "stratamail status", and its
// JSON object.
type domainStatus struct {
	Domain    string        `json:"domain"`
	Mode      string        `json:"mode"`
	Relay     string        `json:"relay"`
	Monitored bool          `json:"monitored"`
	Primary   monitor.State `json:"primary"`
	// Since is when Primary began; null when unknown.
	Since     *time.Time `json:"since"`
	Uptime24h *float64   `json:"uptime_24h"`
	Uptime7d  *float64   `json:"uptime_7d"`
	Uptime30d *float64   `json:"uptime_30d"`
	// Outages are those of the last 30 days, oldest first.
	Outages []outageStatus `json:"outages_30d"`
	Queue   int            `json:"queue_size"`
	// Oldest is when the oldest queued message arrived; null when the
	// queue is empty.
	Oldest           *time.Time `json:"oldest_arrived"`
	OldestAgeSeconds int64      `json:"oldest_age_seconds"`
}

// outageStatus is one outage in the JSON of "stratamail status".
type outageStatus struct {
	Start time.Time `json:"start"`
	// End is null while the outage goes on.
	End             *time.Time `json:"end"`
	DurationSeconds int64      `json:"duration_seconds"`
	Relay           string     `json:"relay"`
	Reason          string     `json:"reason"`
}

func runStatus(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("status", "[-config FILE] [-json]", "Print, per "+
		"domain, its mode and relay host, whether the primary is up "+
		"and since\nwhen, its uptime over 24 hours, 7 and 30 days, "+
		"its outages of the last 30 days,\nand the relay queue. It "+
		"reads the files under data_dir: no server needs to run.",
		stderr)
	path := fs.String("config", defaultConfig, "the config `file`")
	asJSON := fs.Bool("json", false, "print one JSON array of domains")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() != 0 {
		fs.Usage()
		return errUsage
	}
	cfg, err := conf.Load(*path)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return errors.New("the config file has errors; a running " +
			"server refuses it and keeps its last valid configuration")
	}
	now := time.Now()
	rows, err := collectStatus(cfg, now)
	if err != nil {
		return err
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(rows)
	}
	printServer(stdout, cfg)
	printStatus(stdout, rows, now)
	return nil
}

// printServer says whether a server runs on cfg's data directory, when
// it loaded its configuration, and why it refused the last reload.
func printServer(w io.Writer, cfg *conf.Config) {
	reply, err := callControl(cfg.Server.DataDir,
		controlRequest{Op: "status"})
	if err != nil || reply.Reload == nil {
		fmt.Fprintf(w, "server: not running (no answer on %s)\n\n",
			filepath.Join(cfg.Server.DataDir, controlSocket))
		return
	}
	r := reply.Reload
	fmt.Fprintf(w, "server: running; %s loaded %s\n", r.File,
		stamp(r.Loaded))
	if r.LastError != "" {
		fmt.Fprintf(w, "config reload REFUSED %s; the server keeps "+
			"the configuration loaded before:\n%s\n", stamp(r.Refused),
			r.LastError)
	}
	fmt.Fprintln(w)
}

// collectStatus reads the monitor's history and the queue folder of
// cfg's data_dir and returns a status per configured domain, then per
// domain that is only in the queue.
func collectStatus(cfg *conf.Config, now time.Time) ([]domainStatus,
	error) {
	history, err := monitor.ReadHistory(monitorDir(cfg.Server.DataDir))
	if err != nil {
		return nil, err
	}
	entries, err := relayq.ReadDir(filepath.Join(cfg.Server.DataDir,
		"queue"), "")
	if err != nil {
		return nil, err
	}
	rows := []domainStatus{}
	seen := map[string]bool{}
	for _, d := range cfg.Domains {
		seen[d.Name] = true
		rows = append(rows, newStatus(d.Name, string(d.Mode), d.Relay,
			d.Monitor, history, now))
	}
	var outbound []relayq.Entry
	byDomain := map[string][]relayq.Entry{}
	for _, e := range entries { // oldest first
		if e.Route == "outbound" {
			outbound = append(outbound, e)
			continue
		}
		byDomain[e.Domain] = append(byDomain[e.Domain], e)
		if !seen[e.Domain] { // a domain removed from the config
			seen[e.Domain] = true
			rows = append(rows, newStatus(e.Domain, "-", "", false,
				history, now))
		}
	}
	for i := range rows {
		rows[i].addQueue(byDomain[rows[i].Domain], now)
	}
	if len(outbound) > 0 {
		// Replies, alerts and bounces for other domains: one row.
		route := cmp.Or(cfg.Outbound.Smarthost, "MX hosts")
		row := newStatus(outboundRow, "outbound", route, false, history,
			now)
		row.addQueue(outbound, now)
		rows = append(rows, row)
	}
	return rows, nil
}

// outboundRow names the status row of the outbound route.
const outboundRow = "(outbound route)"

// newStatus returns a domain's status as the history tells it.
func newStatus(domain, mode, relay string, monitored bool,
	history []monitor.Event, now time.Time) domainStatus {
	r := monitor.Compute(history, domain, now)
	s := domainStatus{Domain: domain, Mode: mode, Relay: relay,
		Monitored: monitored, Primary: r.State,
		Outages: []outageStatus{}}
	if !r.Since.IsZero() {
		s.Since = &r.Since
	}
	ups := []**float64{&s.Uptime24h, &s.Uptime7d, &s.Uptime30d}
	for i, u := range r.Uptime {
		if f, ok := u.Fraction(); ok {
			*ups[i] = &f
		}
	}
	for _, o := range r.Outages {
		out := outageStatus{Start: o.Start, Relay: o.Relay,
			Reason:          o.Reason,
			DurationSeconds: int64(o.Duration(now) / time.Second)}
		if !o.Ongoing() {
			out.End = &o.End
		}
		s.Outages = append(s.Outages, out)
	}
	return s
}

// addQueue counts entries, the row's queue entries, oldest first.
func (s *domainStatus) addQueue(entries []relayq.Entry, now time.Time) {
	for _, e := range entries {
		if s.Queue == 0 {
			s.Oldest = &e.Arrived
			s.OldestAgeSeconds = int64(roundDur(now.Sub(e.Arrived)) /
				time.Second)
		}
		s.Queue++
	}
}

// printStatus writes rows as an aligned table, then the outages.
func printStatus(w io.Writer, rows []domainStatus, now time.Time) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "DOMAIN\tMODE\tRELAY HOST\tPRIMARY\tSINCE\t"+
		"UP 24H\tUP 7D\tUP 30D\tOUTAGES 30D\tQUEUE\tOLDEST")
	for _, s := range rows {
		primary := string(s.Primary)
		if !s.Monitored {
			primary = "not monitored"
		}
		since, oldest := "-", "-"
		if s.Since != nil {
			since = stamp(*s.Since) + " (" +
				roundDur(now.Sub(*s.Since)).String() + ")"
		}
		if s.Oldest != nil {
			oldest = roundDur(now.Sub(*s.Oldest)).String()
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%d\t%d\t%s\n",
			s.Domain, s.Mode, cmp.Or(s.Relay, "-"), primary, since,
			percent(s.Uptime24h), percent(s.Uptime7d),
			percent(s.Uptime30d), len(s.Outages), s.Queue, oldest)
	}
	tw.Flush()
	printOutages(w, rows)
}

// printOutages lists the outages of the last 30 days, if any.
func printOutages(w io.Writer, rows []domainStatus) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	n := 0
	for _, s := range rows {
		for _, o := range s.Outages {
			if n == 0 {
				fmt.Fprintln(w, "\nOutages in the last 30 days:")
				fmt.Fprintln(tw, "DOMAIN\tSTART\tEND\tDURATION\tREASON")
			}
			n++
			end := "ongoing"
			if o.End != nil {
				end = stamp(*o.End)
			}
			d := time.Duration(o.DurationSeconds) * time.Second
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", s.Domain,
				stamp(o.Start), end, d, o.Reason)
		}
	}
	tw.Flush()
}

// stamp formats t for the status table, in UTC.
func stamp(t time.Time) string {
	return t.UTC().Format("2006-01-02 15:04:05 UTC")
}

// percent formats an uptime fraction; "-" when nothing is known.
func percent(f *float64) string {
	if f == nil {
		return "-"
	}
	return fmt.Sprintf("%.2f%%", *f*100)
}
