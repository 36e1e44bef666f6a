package portal

import (
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stratamail/continuity/monitor"
)

// TestUptimePage checks the chart, the percentages and the outage
// table of a domain whose history has one outage of two hours.
func TestUptimePage(t *testing.T) {
	now := time.Now().UTC()
	start := now.Add(-20 * 24 * time.Hour)
	down := now.Add(-3 * 24 * time.Hour)
	up := down.Add(2 * time.Hour)
	e := newEnv(t, "",
		monitor.Event{Time: start, Domain: "example.test",
			Relay: "p:25", State: monitor.StateUp},
		monitor.Event{Time: down, Domain: "example.test",
			Relay: "p:25", State: monitor.StateDown,
			Reason: `3 probe(s) failed; last: <refused & "gone">`},
		monitor.Event{Time: up, Domain: "example.test",
			Relay: "p:25", State: monitor.StateUp})
	c := e.client()
	c.login()
	code, _, body := c.get("/uptime/example.test")
	if code != 200 {
		t.Fatalf("uptime page: %d", code)
	}
	svg := regexp.MustCompile(`(?s)<svg id="timeline".*?</svg>`).
		FindString(body)
	if svg == "" {
		t.Fatalf("no chart in\n%s", body)
	}
	rects := regexp.MustCompile(`<rect class="(\w+)" x="([\d.]+)" `+
		`y="0" width="([\d.]+)"`).FindAllStringSubmatch(svg, -1)
	var states []string
	for _, r := range rects {
		states = append(states, r[1])
	}
	if got := strings.Join(states, " "); got != "unknown up down up" {
		t.Fatalf("spans %q, want unknown up down up\n%s", got, svg)
	}
	// The outage starts 27 of 30 days in: at 810 of 900 units.
	if x, _ := strconv.ParseFloat(rects[2][2], 64); x < 809 || x > 811 {
		t.Errorf("outage at x=%v, want about 810", x)
	}
	if w, _ := strconv.ParseFloat(rects[2][3], 64); w < 2 || w > 3 {
		t.Errorf("outage %v wide, want 2.5 (2 h of 30 d)", w)
	}
	if !strings.Contains(svg, `fill="#d93a3a"`) ||
		!strings.Contains(svg, `fill="#2e9e44"`) {
		t.Error("the chart lacks red or green")
	}
	for _, want := range []string{
		"<td>" + down.Format(timeFormat) + "</td>",
		"<td>" + up.Format(timeFormat) + "</td>",
		"<td>2h 0m</td>",
		"&lt;refused &amp; &#34;gone&#34;&gt;",
		"<td>100.00 %</td>", // 24 hours
		"98.81 %",           // 7 days: 2 h down of 168
		"99.58 %",           // 30 days: 2 h of 480 known
		`class="state up"`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("page lacks %q", want)
		}
	}

	_, _, body = c.get("/uptime/other.test")
	if !strings.Contains(body, "not monitored") ||
		!strings.Contains(body, "No outages") ||
		!strings.Contains(body, `<rect class="unknown" x="0" y="0" width="900"`) {
		t.Errorf("unmonitored domain's page:\n%s", body)
	}
}

// TestBars checks the chart's geometry, including the least width of
// a short span.
func TestBars(t *testing.T) {
	from := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	now := from.Add(30 * 24 * time.Hour)
	for _, tc := range []struct {
		name  string
		spans []monitor.Span
		want  []bar
	}{
		{"none", nil, nil},
		{"halves", []monitor.Span{
			{Start: from, End: from.Add(15 * 24 * time.Hour), State: monitor.StateUp},
			{Start: from.Add(15 * 24 * time.Hour), End: now, State: monitor.StateDown}},
			[]bar{{X: 0, W: 450, State: monitor.StateUp},
				{X: 450, W: 450, State: monitor.StateDown}}},
		{"a minute is two units", []monitor.Span{
			{Start: from, End: from.Add(time.Minute), State: monitor.StateDown}},
			[]bar{{X: 0, W: 2, State: monitor.StateDown}}},
		{"the last second stays inside", []monitor.Span{
			{Start: from, End: now.Add(-time.Second),
				State: monitor.StateUp},
			{Start: now.Add(-time.Second), End: now,
				State: monitor.StateDown}},
			[]bar{{X: 0, W: 900, State: monitor.StateUp},
				{X: 898, W: 2, State: monitor.StateDown}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := bars(tc.spans, from, now)
			if len(got) != len(tc.want) {
				t.Fatalf("got %+v", got)
			}
			for i, b := range got {
				w := tc.want[i]
				if b.X != w.X || b.W != w.W || b.State != w.State {
					t.Errorf("bar %d = %+v, want %+v", i, b, w)
				}
			}
		})
	}
	if got := ticks(from, now); len(got) != 29 || got[0].X != 30 {
		t.Errorf("ticks %+v", got)
	}
}
