package monitor

import (
	"testing"
	"time"
)

// ev makes an event of domain a.test at hours after t0.
func ev(hours float64, s State) Event {
	return Event{Time: t0.Add(time.Duration(hours * float64(time.Hour))),
		Domain: "a.test", Relay: "p.a.test:25", State: s,
		Reason: string(s) + " reason"}
}

func TestCompute(t *testing.T) {
	const day = 24
	tests := []struct {
		name    string
		events  []Event
		now     float64 // hours after t0
		state   State
		since   float64
		uptime  []float64 // per period; -1 when unknown
		outages [][2]float64
	}{
		{"no history", nil, 10, StateUnknown, -1,
			[]float64{-1, -1, -1}, nil},
		{"up all along", []Event{ev(0, StateUp)}, 40 * day,
			StateUp, 0, []float64{1, 1, 1}, nil},
		{"history starts 12h ago: only known time counts",
			[]Event{ev(0, StateUp), ev(6, StateDown), ev(9, StateUp)},
			12, StateUp, 9, []float64{0.75, 0.75, 0.75},
			[][2]float64{{6, 9}}},
		{"ongoing outage", []Event{ev(0, StateUp),
			ev(20, StateDown)}, 24, StateDown, 20,
			[]float64{20.0 / 24, 20.0 / 24, 20.0 / 24},
			[][2]float64{{20, -1}}},
		{"old outage outside 24h and 7d, inside 30d",
			[]Event{ev(0, StateUp), ev(2*day, StateDown),
				ev(2*day+12, StateUp)}, 20 * day, StateUp, 2*day + 12,
			[]float64{1, 1, (20.0*day - 12) / (20 * day)},
			[][2]float64{{2 * day, 2*day + 12}}},
		{"outage before 30 days is not listed",
			[]Event{ev(0, StateDown), ev(1, StateUp)}, 31 * day,
			StateUp, 1, []float64{1, 1, 1}, nil},
		{"outage ending inside 30 days is listed whole",
			[]Event{ev(0, StateUp), ev(10, StateDown),
				ev(30*day+10, StateUp)}, 30*day + 20, StateUp,
			30*day + 10, []float64{10.0 / 24, 10.0 / (7 * day),
				10.0 / (30 * day)},
			[][2]float64{{10, 30*day + 10}}},
		{"unknown time does not count",
			[]Event{ev(0, StateUp), ev(2, StateUnknown),
				ev(20, StateDown)}, 24, StateDown, 20,
			[]float64{1.0 / 3, 1.0 / 3, 1.0 / 3},
			[][2]float64{{20, -1}}},
		{"outage ends when monitoring stops",
			[]Event{ev(0, StateDown), ev(4, StateUnknown)}, 5,
			StateUnknown, 4, []float64{0, 0, 0},
			[][2]float64{{0, 4}}},
		{"repeated state merges", []Event{ev(0, StateDown),
			ev(1, StateDown), ev(2, StateUp)}, 4, StateUp, 2,
			[]float64{0.5, 0.5, 0.5}, [][2]float64{{0, 2}}},
		{"other domains are ignored", []Event{ev(0, StateUp),
			{Time: t0.Add(time.Hour), Domain: "b.test",
				State: StateDown}}, 2, StateUp, 0,
			[]float64{1, 1, 1}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			now := t0.Add(time.Duration(tt.now * float64(time.Hour)))
			r := Compute(tt.events, "A.test", now)
			wantSince := time.Time{}
			if tt.since >= 0 {
				wantSince = at(tt.since)
			}
			if r.State != tt.state || !r.Since.Equal(wantSince) {
				t.Errorf("state %s since %v, want %s since %v",
					r.State, r.Since, tt.state, wantSince)
			}
			for i, u := range r.Uptime {
				f, ok := u.Fraction()
				if !ok {
					f = -1
				}
				if diff := f - tt.uptime[i]; diff > 1e-9 || diff < -1e-9 {
					t.Errorf("uptime over %v = %v, want %v", u.Period,
						f, tt.uptime[i])
				}
			}
			if len(r.Outages) != len(tt.outages) {
				t.Fatalf("outages %+v, want %v", r.Outages, tt.outages)
			}
			for i, o := range r.Outages {
				w := tt.outages[i]
				end := time.Time{}
				if w[1] >= 0 {
					end = at(w[1])
				}
				if !o.Start.Equal(at(w[0])) || !o.End.Equal(end) ||
					o.Reason != "down reason" {
					t.Errorf("outage %d = %+v, want %v", i, o, w)
				}
			}
		})
	}
}

func at(hours float64) time.Time {
	return t0.Add(time.Duration(hours * float64(time.Hour)))
}

func TestOutageDuration(t *testing.T) {
	o := Outage{Start: at(1)}
	if d := o.Duration(at(3)); d != 2*time.Hour || !o.Ongoing() {
		t.Errorf("ongoing: %v", d)
	}
	o.End = at(2)
	if d := o.Duration(at(3)); d != time.Hour || o.Ongoing() {
		t.Errorf("ended: %v", d)
	}
}

func TestTimeline(t *testing.T) {
	tests := []struct {
		name     string
		events   []Event
		from, to float64 // hours after t0
		want     []Span
	}{
		{"no history", nil, 0, 5, []Span{{at(0), at(5), StateUnknown}}},
		{"before the first event", []Event{ev(2, StateUp),
			ev(3, StateDown)}, 0, 5, []Span{{at(0), at(2), StateUnknown},
			{at(2), at(3), StateUp}, {at(3), at(5), StateDown}}},
		{"cut at from", []Event{ev(0, StateUp), ev(3, StateDown),
			ev(4, StateUp)}, 3.5, 5, []Span{{at(3.5), at(4), StateDown},
			{at(4), at(5), StateUp}}},
	}
	for _, tt := range tests {
		got := Timeline(tt.events, "a.test", at(tt.from), at(tt.to))
		if len(got) != len(tt.want) {
			t.Errorf("%s: %+v, want %+v", tt.name, got, tt.want)
			continue
		}
		for i := range got {
			if !got[i].Start.Equal(tt.want[i].Start) ||
				!got[i].End.Equal(tt.want[i].End) ||
				got[i].State != tt.want[i].State {
				t.Errorf("%s: span %d %+v, want %+v", tt.name, i, got[i],
					tt.want[i])
			}
		}
	}
}
