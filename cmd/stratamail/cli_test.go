package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestCheckConfig runs check-config on a good and a broken file, as an
// operator would.
func TestCheckConfig(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.toml")
	bad := filepath.Join(dir, "bad.toml")
	files := map[string]string{
		good: "[server]\ndata_dir = \"/srv/x\"\n[[domain]]\n" +
			"name = \"example.test\"\nmode = \"relay\"\n" +
			"relay = \"192.0.2.1:25\"\n",
		bad: "[server]\ndata_dir = \"/srv/x\"\n[[domain]]\n" +
			"name = \"example.test\"\nmode = \"bothh\"\n" +
			"relay = \"mail.example.test\"\n",
	}
	for p, text := range files {
		if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if out := runCLI(t, 0, "check-config", good); !strings.Contains(out,
		"OK (1 domains, 0 users)") {
		t.Errorf("good file: %s", out)
	}
	out := runCLI(t, 1, "check-config", bad)
	for _, want := range []string{bad + ":5: domain[0].mode:",
		bad + ":6: domain[0].relay:"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	runCLI(t, 2, "check-config")
}

// TestSampleConfigPasses keeps contrib/stratamail.toml valid.
func TestSampleConfigPasses(t *testing.T) {
	runCLI(t, 0, "check-config", "../../contrib/stratamail.toml")
}

// TestQueueFlushUnknownDomain refuses a domain that is neither
// configured nor queued, instead of starting a flush of nothing.
func TestQueueFlushUnknownDomain(t *testing.T) {
	e := startEnv(t, t.TempDir(), freeAddr(t))
	out := runCLI(t, 1, "queue", "flush", "-config", e.cfgPath,
		"-domain", "nope.test")
	if !strings.Contains(out, "nope.test is neither a configured") {
		t.Errorf("output: %s", out)
	}
	out = runCLI(t, 0, "queue", "flush", "-config", e.cfgPath,
		"-domain", "example.test")
	if !strings.Contains(out, "queue list -config "+e.cfgPath) {
		t.Errorf("flush hint lacks -config: %s", out)
	}
}
