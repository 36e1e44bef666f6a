package monitor

// The history file, <dir>/history.jsonl: one JSON object per line, one
// line per change of a primary's state, appended and fsynced as it
// happens, oldest first:
//
//	{"time":"2026-12-04T15:02:11Z","domain":"example.com",
//	 "relay":"mail.example.com:25","state":"down",
//	 "reason":"dial tcp 192.0.2.1:25: connect: connection refused"}
//
// time is when the new state began: the first probe of the streak
// that declared it. A line that does not parse (a crash in the middle
// of an append leaves a truncated last line) is skipped with a warning.
// At start the file is rewritten without the events older than
// keepHistory, except each domain's last one, which is its state.

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"time"
)

// State is what the monitor knows of a primary.
type State string

// The states of a primary.
const (
	// StateUnknown: never probed enough to say, or no longer
	// monitored. Time in it does not count towards uptime.
	StateUnknown State = "unknown"
	// StateUp: the primary takes SMTP sessions.
	StateUp State = "up"
	// StateDown: the primary failed down_after probes in a row.
	StateDown State = "down"
)

// Event is one line of the history file: a primary's change of state.
type Event struct {
	// Time is when the new state began.
	Time   time.Time `json:"time"`
	Domain string    `json:"domain"`
	Relay  string    `json:"relay"`
	State  State     `json:"state"`
	// Reason says why: the probe's error for down.
	Reason string `json:"reason,omitempty"`
}

// HistoryFile is the history file's name in the monitor's folder.
const HistoryFile = "history.jsonl"

// keepHistory is how long events are kept: longer than the longest
// uptime period.
const keepHistory = 90 * 24 * time.Hour

// ReadHistory returns the events in the history file of the monitor
// folder dir, oldest first, skipping lines that do not parse. It
// changes nothing, so it may run beside a server. A missing file is an
// empty history.
func ReadHistory(dir string) ([]Event, error) {
	data, err := os.ReadFile(filepath.Join(dir, HistoryFile))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	} else if err != nil {
		return nil, fmt.Errorf("monitor: %w", err)
	}
	events, _ := parseHistory(data)
	return events, nil
}

// parseHistory parses the history file data. It returns the valid
// events, sorted by time (stable), and the numbers of the lines it
// skipped, from 1.
func parseHistory(data []byte) (events []Event, bad []int) {
	for i, line := range bytes.Split(data, []byte("\n")) {
		line = bytes.TrimSpace(line)
		if len(line) == 0 {
			continue
		}
		var e Event
		if json.Unmarshal(line, &e) != nil || !e.valid() {
			bad = append(bad, i+1)
			continue
		}
		events = append(events, e)
	}
	slices.SortStableFunc(events, func(a, b Event) int {
		return a.Time.Compare(b.Time)
	})
	return events, bad
}

// valid reports whether e is an event the monitor could have written.
func (e Event) valid() bool {
	switch e.State {
	case StateUp, StateDown, StateUnknown:
	default:
		return false
	}
	return !e.Time.IsZero() && e.Domain != ""
}

// loadHistory reads the history file at path for a starting monitor.
// It logs each skipped line, and rewrites the file when lines were
// skipped or events older than keepHistory before now were dropped.
func loadHistory(path string, now time.Time,
	log *slog.Logger) ([]Event, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	} else if err != nil {
		return nil, err
	}
	events, bad := parseHistory(data)
	for _, n := range bad {
		log.Warn("monitor: history line skipped: it does not parse",
			"file", path, "line", n)
	}
	kept := trimHistory(events, now.Add(-keepHistory))
	if len(bad) == 0 && len(kept) == len(events) &&
		(len(data) == 0 || data[len(data)-1] == '\n') {
		return events, nil
	}
	if err := writeHistory(path, kept); err != nil {
		return nil, err
	}
	log.Info("monitor: history rewritten", "file", path,
		"kept", len(kept), "dropped", len(events)-len(kept),
		"skipped_lines", len(bad))
	return kept, nil
}

// trimHistory returns the events from cutoff on, plus each domain's
// last event before it when the domain has none after: that one is
// the domain's state.
func trimHistory(events []Event, cutoff time.Time) []Event {
	last := map[string]int{} // domain → index of its last event
	for i, e := range events {
		last[e.Domain] = i
	}
	var kept []Event
	for i, e := range events {
		if !e.Time.Before(cutoff) || last[e.Domain] == i {
			kept = append(kept, e)
		}
	}
	return kept
}

// writeHistory replaces the file at path with events, atomically: a
// temp file in the same folder, fsync, rename, fsync of the folder.
func writeHistory(path string, events []Event) error {
	var buf bytes.Buffer
	for _, e := range events {
		line, err := json.Marshal(e)
		if err != nil {
			return err
		}
		buf.Write(append(line, '\n'))
	}
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, ".history-*.tmp")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name()) // fails harmlessly after the rename
	_, err = f.Write(buf.Bytes())
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(f.Name(), path)
	}
	if err != nil {
		return err
	}
	return syncDir(dir)
}

// appendEvent appends e to the history file at path and fsyncs it (and
// its folder, when the append created the file).
func appendEvent(path string, e Event) error {
	line, err := json.Marshal(e)
	if err != nil {
		return err
	}
	_, statErr := os.Stat(path)
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE,
		0o600)
	if err != nil {
		return err
	}
	_, err = f.Write(append(line, '\n'))
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil && errors.Is(statErr, os.ErrNotExist) {
		err = syncDir(filepath.Dir(path))
	}
	return err
}

// syncDir fsyncs the folder dir, so that a new or renamed file in it
// survives a crash.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
