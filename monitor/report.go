package monitor

import (
	"strings"
	"time"
)

// Periods are the windows a Report gives the uptime of, in this order:
// 24 hours, 7 days and 30 days. The last is also the outage period.
var Periods = []time.Duration{24 * time.Hour, 7 * 24 * time.Hour,
	30 * 24 * time.Hour}

// Report is what the history says of one domain's primary.
type Report struct {
	Domain string
	// State is the primary's state now, and Since when it began; Since
	// is zero when the history has no event of the domain.
	State State
	Since time.Time
	// Relay is the relay host of the domain's last event.
	Relay string
	// Uptime has one entry per element of Periods.
	Uptime []Uptime
	// Outages are those that overlap the last of Periods, oldest
	// first.
	Outages []Outage
}

// Uptime is the time a primary was up during a period ending now.
//
// Only time in a known state counts: time before the domain's first
// event and time it was not monitored (state unknown) is left out of
// both Up and Known. Time the server was stopped counts as the state
// the history had then, since nothing was recorded.
type Uptime struct {
	Period time.Duration
	// Up is the time the primary was up, Known the time its state was
	// known (up or down).
	Up, Known time.Duration
}

// Fraction returns Up/Known, from 0 to 1, and false when no time of
// the period is known.
func (u Uptime) Fraction() (float64, bool) {
	if u.Known <= 0 {
		return 0, false
	}
	return float64(u.Up) / float64(u.Known), true
}

// Outage is a time the primary was down.
type Outage struct {
	Start time.Time
	// End is zero while the outage goes on. An outage of a domain that
	// stopped being monitored ends when monitoring stopped.
	End   time.Time
	Relay string
	// Reason is why it was declared: the failed probe's error.
	Reason string
}

// Ongoing reports whether the outage still goes on.
func (o Outage) Ongoing() bool { return o.End.IsZero() }

// Duration returns how long the outage lasted, or has lasted by now.
func (o Outage) Duration(now time.Time) time.Duration {
	end := o.End
	if o.Ongoing() {
		end = now
	}
	return max(end.Sub(o.Start), 0)
}

// span is a time the primary was in one state: [start, end).
type span struct {
	start, end time.Time
	ev         Event
}

// Compute builds domain's Report at now from events (in time order, of
// any domains), as the history file holds them.
func Compute(events []Event, domain string, now time.Time) Report {
	r := Report{Domain: domain, State: StateUnknown}
	spans := spansOf(events, domain, now)
	if len(spans) > 0 {
		last := spans[len(spans)-1]
		r.State, r.Relay, r.Since = last.ev.State, last.ev.Relay,
			last.start
	}
	for _, p := range Periods {
		r.Uptime = append(r.Uptime, uptime(spans, p, now))
	}
	r.Outages = outages(spans, now.Add(-Periods[len(Periods)-1]))
	return r
}

// spansOf cuts the time from domain's first event to now into spans,
// merging events that repeat the state before them.
func spansOf(events []Event, domain string, now time.Time) []span {
	var spans []span
	for _, e := range events {
		if !strings.EqualFold(e.Domain, domain) {
			continue
		}
		if n := len(spans); n > 0 {
			if spans[n-1].ev.State == e.State {
				continue
			}
			spans[n-1].end = e.Time
		}
		spans = append(spans, span{start: e.Time, ev: e})
	}
	if n := len(spans); n > 0 {
		spans[n-1].end = now
	}
	return spans
}

// uptime sums the up and known time of spans in the period p to now.
func uptime(spans []span, p time.Duration, now time.Time) Uptime {
	u := Uptime{Period: p}
	from := now.Add(-p)
	for _, s := range spans {
		start, end := later(s.start, from), earlier(s.end, now)
		d := end.Sub(start)
		if d <= 0 || s.ev.State == StateUnknown {
			continue
		}
		u.Known += d
		if s.ev.State == StateUp {
			u.Up += d
		}
	}
	return u
}

// outages returns the down spans that end after from.
func outages(spans []span, from time.Time) []Outage {
	var out []Outage
	for i, s := range spans {
		if s.ev.State != StateDown || !s.end.After(from) {
			continue
		}
		o := Outage{Start: s.start, Relay: s.ev.Relay,
			Reason: s.ev.Reason}
		if i < len(spans)-1 {
			o.End = s.end
		}
		out = append(out, o)
	}
	return out
}

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

func earlier(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

// Span is a time a primary was in one state, for a timeline.
type Span struct {
	Start, End time.Time
	State      State
}

// Timeline returns domain's states from from to now, in time order,
// as a status page draws them: time before the first event is one
// span of StateUnknown.
func Timeline(events []Event, domain string, from,
	now time.Time) []Span {
	var out []Span
	add := func(start, end time.Time, s State) {
		start, end = later(start, from), earlier(end, now)
		if end.After(start) {
			out = append(out, Span{start, end, s})
		}
	}
	spans := spansOf(events, domain, now)
	if len(spans) == 0 {
		add(from, now, StateUnknown)
		return out
	}
	add(from, spans[0].start, StateUnknown)
	for _, s := range spans {
		add(s.start, s.end, s.ev.State)
	}
	return out
}
