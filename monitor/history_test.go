package monitor

import (
	"cmp"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestHistoryAppendAndRead(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, HistoryFile)
	want := []Event{ev(0, StateUp), ev(1, StateDown), ev(2, StateUp)}
	for _, e := range want {
		if err := appendEvent(path, e); err != nil {
			t.Fatal(err)
		}
	}
	got, err := ReadHistory(dir)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("read %+v, want %+v", got, want)
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("history file: %v, %v", fi, err)
	}
	if got, err := ReadHistory(t.TempDir()); got != nil || err != nil {
		t.Errorf("a missing file read as %v, %v", got, err)
	}
}

// TestLoadHistory checks what a starting monitor makes of the files a
// crash, an editor or time leaves behind.
func TestLoadHistory(t *testing.T) {
	line := func(e Event) string {
		return `{"time":"` + e.Time.Format(time.RFC3339) +
			`","domain":"a.test","relay":"p.a.test:25","state":"` +
			string(e.State) + `","reason":"` + e.Reason + "\"}\n"
	}
	up, down := ev(0, StateUp), ev(1, StateDown)
	tests := []struct {
		name, text string
		want       []Event
		warnings   []string // each a line number skipped
		rewritten  string   // the file after, "" for unchanged
		now        float64  // hours after t0; 0 for two days
	}{
		{"clean", line(up) + line(down), []Event{up, down}, nil, "", 0},
		{"empty", "", nil, nil, "", 0},
		{"truncated last line", line(up) + line(down)[:30],
			[]Event{up}, []string{"2"}, line(up), 0},
		{"last line without newline",
			line(up) + strings.TrimSuffix(line(ev(99*24, StateDown)), "\n"),
			[]Event{up, ev(99*24, StateDown)}, nil,
			line(up) + line(ev(99*24, StateDown)), 0},
		{"garbage and bad events in the middle", line(up) +
			"not json\n{}\n" + `{"time":"2026-12-01T12:00:00Z",` +
			`"domain":"a.test","state":"sideways"}` + "\n" + line(down),
			[]Event{up, down}, []string{"2", "3", "4"},
			line(up) + line(down), 0},
		{"older than 90 days dropped, last state kept",
			line(up) + line(down) + line(ev(11*24, StateUp)) +
				line(ev(20*24, StateDown)),
			[]Event{ev(11*24, StateUp), ev(20*24, StateDown)}, nil,
			line(ev(11*24, StateUp)) + line(ev(20*24, StateDown)),
			100 * 24},
		{"a domain's last state is kept however old", line(up),
			[]Event{up}, nil, "", 365 * 24},
		{"out of order lines are sorted", line(down) + line(up),
			[]Event{up, down}, nil, "", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), HistoryFile)
			err := os.WriteFile(path, []byte(tt.text), 0o600)
			if err != nil {
				t.Fatal(err)
			}
			log, logs := newLog(t)
			now := at(cmp.Or(tt.now, 48))
			got, err := loadHistory(path, now, log)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("events %+v\nwant %+v", got, tt.want)
			}
			for _, n := range tt.warnings {
				if !strings.Contains(logs.String(), "history line "+
					"skipped: it does not parse\" file="+path+" line="+n) {
					t.Errorf("no warning for line %s", n)
				}
			}
			after, _ := os.ReadFile(path)
			want := tt.rewritten
			if want == "" {
				want = tt.text
			}
			if string(after) != want {
				t.Errorf("file after load:\n%s\nwant\n%s", after, want)
			}
			left, _ := filepath.Glob(filepath.Join(filepath.Dir(path),
				".history-*"))
			if len(left) > 0 {
				t.Errorf("temp files left: %v", left)
			}
		})
	}
}

// FuzzParseHistory checks that no history file crashes the parser and
// that every event it returns is valid and in time order.
func FuzzParseHistory(f *testing.F) {
	f.Add([]byte(`{"time":"2026-12-01T12:00:00Z","domain":"a.test",` +
		`"relay":"p:25","state":"down","reason":"x"}` + "\n"))
	f.Add([]byte("{\"time\":\"2026-12-01T12:00:00Z\",\"domain\"\n\n{}"))
	f.Add([]byte(`{"time":"0001-01-01T00:00:00Z","domain":"a","state":"up"}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		events, bad := parseHistory(data)
		lines := strings.Count(string(data), "\n") + 2
		for i, e := range events {
			if !e.valid() {
				t.Errorf("invalid event %+v", e)
			}
			if i > 0 && e.Time.Before(events[i-1].Time) {
				t.Errorf("events out of order")
			}
		}
		for _, n := range bad {
			if n < 1 || n > lines {
				t.Errorf("bad line number %d of %d", n, lines)
			}
		}
	})
}
