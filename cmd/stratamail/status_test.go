package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stratamail/continuity/conf"
)

// TestStatusFromFiles writes a history file by hand (with a truncated
// last line, as a crash leaves it) and checks what status makes of it,
// as text and as JSON, with no server running.
func TestStatusFromFiles(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	now := time.Now().UTC().Truncate(time.Second)
	ago := func(d time.Duration) string {
		return now.Add(-d).Format(time.RFC3339)
	}
	history := `{"time":"` + ago(10*24*time.Hour) + `","domain":"a.test",` +
		`"relay":"p.a.test:25","state":"up"}` + "\n" +
		`{"time":"` + ago(12*time.Hour) + `","domain":"a.test",` +
		`"relay":"p.a.test:25","state":"down","reason":"refused"}` + "\n" +
		`{"time":"` + ago(6*time.Hour) + `","domain":"a.test",` +
		`"relay":"p.a.test:25","state":"up"}` + "\n" +
		`{"time":"` + ago(time.Hour) + `","domain":"a.te`
	if err := os.MkdirAll(monitorDir(data), 0o700); err != nil {
		t.Fatal(err)
	}
	err := os.WriteFile(filepath.Join(monitorDir(data), "history.jsonl"),
		[]byte(history), 0o600)
	if err != nil {
		t.Fatal(err)
	}
	cfgPath := filepath.Join(dir, "c.toml")
	err = os.WriteFile(cfgPath, []byte(`[server]
hostname = "mx.test"
data_dir = "`+data+`"
[[domain]]
name = "a.test"
mode = "relay"
relay = "p.a.test:25"
monitor = true
[[domain]]
name = "b.test"
mode = "local"
`), 0o600)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := conf.Load(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	rows, err := collectStatus(cfg, now)
	if err != nil {
		t.Fatal(err)
	}
	a := rows[0]
	if len(rows) != 2 || a.Primary != "up" || *a.Uptime24h != 0.75 ||
		len(a.Outages) != 1 || a.Outages[0].DurationSeconds != 6*3600 ||
		a.Outages[0].Reason != "refused" || rows[1].Relay != "" {
		t.Errorf("rows %+v", rows)
	}
	var b strings.Builder
	printStatus(&b, rows, now)
	lines := strings.Split(b.String(), "\n")
	wants := []string{
		"DOMAIN  MODE   RELAY HOST   PRIMARY        SINCE",
		"a.test  relay  p.a.test:25  up             " +
			now.Add(-6*time.Hour).Format("2006-01-02 15:04:05") +
			" UTC (6h0m0s)  75.00%  96.43%  97.50%  1            0      -",
		"b.test  local  -            not monitored  -",
		"Outages in the last 30 days:",
		"a.test  " + now.Add(-12*time.Hour).Format("2006-01-02 15:04:05") +
			" UTC  " + now.Add(-6*time.Hour).Format("2006-01-02 15:04:05") +
			" UTC  6h0m0s    refused",
	}
	for _, w := range wants {
		found := false
		for _, l := range lines {
			found = found || strings.HasPrefix(l, w)
		}
		if !found {
			t.Errorf("no line starts with %q:\n%s", w, b.String())
		}
	}
}
