package monitor

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/stratamail/continuity/conf"
)

// TestTracker feeds runs of probe results to a tracker: each probe is
// a minute after the one before; "+" is a good probe, "-" a failed one.
func TestTracker(t *testing.T) {
	tests := []struct {
		name       string
		start      State
		down, up   int
		probes     string
		wantStates string // the state after each probe: U(nknown) u d
		wantSince  []int  // the minute each transition's state began
	}{
		{"unknown to up", StateUnknown, 3, 2, "++", "Uu", []int{0}},
		{"unknown to down", StateUnknown, 3, 2, "---", "UUd", []int{0}},
		{"flapping while unknown", StateUnknown, 2, 2, "+-+-++",
			"UUUUUu", []int{4}},
		{"down after 3, a good probe resets", StateUp, 3, 2,
			"--+---", "uuuuud", []int{3}},
		{"recovery after 2", StateDown, 3, 2, "+-++", "dddu", []int{2}},
		{"outage and recovery", StateUp, 1, 1, "-+", "du",
			[]int{0, 1}},
		{"stays up", StateUp, 3, 2, "++++", "uuuu", nil},
		{"stays down", StateDown, 3, 2, "----", "dddd", nil},
	}
	letter := map[State]byte{StateUnknown: 'U', StateUp: 'u',
		StateDown: 'd'}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tr := &tracker{domain: "a.test", relay: "p:25",
				state: tt.start}
			mon := conf.Monitor{DownAfter: tt.down, UpAfter: tt.up}
			var states []byte
			var since []int
			for i, p := range tt.probes {
				var err error
				if p == '-' {
					err = errors.New("refused\r\nby primary")
				}
				at := t0.Add(time.Duration(i) * time.Minute)
				c, ok := tr.observe(at, err, mon)
				if ok {
					since = append(since,
						int(c.ev.Time.Sub(t0)/time.Minute))
					if c.ev.State != tr.state || c.ev.Domain != "a.test" ||
						c.ev.Relay != "p:25" {
						t.Errorf("event %+v, tracker %+v", c.ev, tr)
					}
				}
				states = append(states, letter[tr.state])
			}
			if string(states) != tt.wantStates {
				t.Errorf("states %s, want %s", states, tt.wantStates)
			}
			if !equalInts(since, tt.wantSince) {
				t.Errorf("transitions began at minutes %v, want %v",
					since, tt.wantSince)
			}
		})
	}
}

func equalInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestReason(t *testing.T) {
	tests := []struct {
		err  error
		n    int
		want string
	}{
		{nil, 2, "answered 2 probe(s) in a row"},
		{errors.New("554 go\r\naway"), 3,
			"3 probe(s) failed in a row; last: 554 go  away"},
		{errors.New(strings.Repeat("é", 400)), 1,
			"1 probe(s) failed in a row; last: " +
				strings.Repeat("é", 150) + "…"},
	}
	for _, tt := range tests {
		if got := reason(tt.err, tt.n); got != tt.want {
			t.Errorf("reason(%v, %d) = %q, want %q", tt.err, tt.n, got,
				tt.want)
		}
	}
}
