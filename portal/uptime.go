package portal

import (
	"net/http"
	"time"

	"github.com/stratamail/continuity/monitor"
)

// chartDays is the period of the uptime chart.
const chartDays = 30

// The uptime chart's size in SVG user units.
const (
	chartWidth  = 900.0
	chartHeight = 36.0
)

// bar is one span of the chart: a rectangle from X of width W.
type bar struct {
	X, W       float64
	State      monitor.State
	Start, End string // for the tooltip
}

// tick is a day mark under the chart.
type tick struct {
	X     float64
	Label string
}

// outageRow is one line of the outage table.
type outageRow struct {
	Start, End, Duration, Relay, Reason string
	Ongoing                             bool
}

// uptimeView is the uptime page of one domain.
type uptimeView struct {
	Domain    string
	Relay     string
	Monitored bool
	State     monitor.State
	Since     string
	Uptime    []uptimeCell
	Bars      []bar
	Ticks     []tick
	Width     float64
	Height    float64
	Outages   []outageRow
}

// uptimeCell is one period's uptime.
type uptimeCell struct{ Period, Percent string }

// periodNames name monitor.Periods.
var periodNames = []string{"24 hours", "7 days", "30 days"}

// uptimePage shows a domain's state, uptime, a timeline chart of the
// last 30 days and its outages.
func (s *Server) uptimePage(w http.ResponseWriter, r *http.Request,
	sess *session) {
	domain := s.domainOf(w, r)
	if domain == "" {
		return
	}
	now := s.now().UTC()
	rep := s.opts.Monitor.Report(domain, now)
	v := uptimeView{Domain: domain, Relay: rep.Relay, State: rep.State,
		Width: chartWidth, Height: chartHeight}
	if d := s.opts.Config().Domain(domain); d != nil {
		v.Monitored, v.Relay = d.Monitor, d.Relay
	}
	if !rep.Since.IsZero() {
		v.Since = rep.Since.Format(timeFormat)
	}
	for i, u := range rep.Uptime {
		if i < len(periodNames) {
			v.Uptime = append(v.Uptime,
				uptimeCell{periodNames[i], percent(u)})
		}
	}
	from := now.Add(-chartDays * 24 * time.Hour)
	v.Bars = bars(s.opts.Monitor.Timeline(domain, from, now), from, now)
	v.Ticks = ticks(from, now)
	for i := len(rep.Outages) - 1; i >= 0; i-- { // newest first
		v.Outages = append(v.Outages, outageOf(rep.Outages[i], now))
	}
	s.page(w, r, sess, "uptime", "Uptime of "+domain, v)
}

// timeFormat is how the pages show a time (UTC).
const timeFormat = "2006-01-02 15:04 MST"

// bars turns the spans from from to now into the chart's rectangles.
func bars(spans []monitor.Span, from, now time.Time) []bar {
	total := now.Sub(from).Seconds()
	if total <= 0 {
		return nil
	}
	scale := chartWidth / total
	var out []bar
	for _, sp := range spans {
		b := bar{
			X:     round2(sp.Start.Sub(from).Seconds() * scale),
			W:     round2(sp.End.Sub(sp.Start).Seconds() * scale),
			State: sp.State,
			Start: sp.Start.UTC().Format(timeFormat),
			End:   sp.End.UTC().Format(timeFormat),
		}
		// A short outage must stay visible: at least two units wide,
		// and inside the chart (the newest span ends at its edge).
		b.W = max(b.W, 2)
		b.X = min(b.X, chartWidth-b.W)
		out = append(out, b)
	}
	return out
}

// ticks returns a mark for each midnight (UTC) from from to now, with
// a label on every fifth day but near the ends, where it would be cut.
func ticks(from, now time.Time) []tick {
	total := now.Sub(from).Seconds()
	var out []tick
	day := from.UTC().Truncate(24 * time.Hour).Add(24 * time.Hour)
	for i := 0; day.Before(now); day, i = day.Add(24*time.Hour), i+1 {
		t := tick{X: round2(day.Sub(from).Seconds() / total * chartWidth)}
		if day.Day()%5 == 0 && t.X >= 20 && t.X <= chartWidth-20 {
			t.Label = day.Format("Jan 2")
		}
		out = append(out, t)
	}
	return out
}

// round2 rounds f to two decimals, for short SVG numbers.
func round2(f float64) float64 {
	return float64(int64(f*100+0.5)) / 100
}

// outageOf formats an outage for the table.
func outageOf(o monitor.Outage, now time.Time) outageRow {
	row := outageRow{Start: o.Start.UTC().Format(timeFormat),
		Duration: age(o.Duration(now)), Relay: o.Relay,
		Reason: o.Reason, Ongoing: o.Ongoing()}
	if !o.Ongoing() {
		row.End = o.End.UTC().Format(timeFormat)
	}
	return row
}
