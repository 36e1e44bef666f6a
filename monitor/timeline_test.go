package monitor

import (
	"context"
	"reflect"
	"testing"
	"time"
)

// TestMonitorTimeline checks that a Monitor's Timeline draws from the
// history it records.
func TestMonitorTimeline(t *testing.T) {
	cfg := testConfig(t, "[monitor]\ndown_after = 1\nup_after = 1\n",
		"a.test=p1:25")
	ps := &probeScript{}
	ps.set("p1:25", false) // up
	m, clock, _ := newTestMonitor(t, cfg, Options{Probe: ps.probe})
	ctx := context.Background()
	m.round(ctx) // up
	clock.Advance(time.Hour)
	ps.set("p1:25", true) // down
	m.round(ctx)          // down
	clock.Advance(time.Hour)
	now := clock.Now()
	got := m.Timeline("a.test", t0.Add(-time.Hour), now)
	want := []Span{
		{t0.Add(-time.Hour), t0, StateUnknown},
		{t0, t0.Add(time.Hour), StateUp},
		{t0.Add(time.Hour), now, StateDown},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %v\nwant %v", got, want)
	}
}
