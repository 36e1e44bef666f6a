package main

import (
	"bytes"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stratamail/continuity/conf"
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
		"OK (1 domain, 0 users)") {
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

// TestCheckConfigWarns: an IMAP listener off loopback without [tls] is
// valid (exit 0) but check-config prints a warning at its line.
func TestCheckConfigWarns(t *testing.T) {
	dir := t.TempDir()
	tests := []struct{ name, imap, want string }{
		{"off loopback", "[imap]\nlisten = [\"127.0.0.1:143\", " +
			"\"0.0.0.0:1143\"]\n", ":8: imap.listen[1]: warning: " +
			"\"0.0.0.0:1143\" is off loopback and there is no [tls]"},
		{"the default", "", ": imap.listen: warning: the default " +
			"\"0.0.0.0:143\" is off loopback"},
		{"loopback", "[imap]\nlisten = [\"127.0.0.1:143\"]\n", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := filepath.Join(dir, strings.ReplaceAll(tt.name, " ",
				"-")+".toml")
			text := "[server]\ndata_dir = \"/srv/x\"\n[[domain]]\n" +
				"name = \"example.test\"\nmode = \"relay\"\n" +
				"relay = \"192.0.2.1:25\"\n" + tt.imap
			if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
				t.Fatal(err)
			}
			out := runCLI(t, 0, "check-config", p)
			if !strings.Contains(out, "OK (1 domain, 0 users)") {
				t.Errorf("not OK: %s", out)
			}
			switch {
			case tt.want == "" && strings.Contains(out, "warning"):
				t.Errorf("unexpected warning: %s", out)
			case tt.want != "" && !strings.Contains(out, p+tt.want):
				t.Errorf("output lacks %q:\n%s", p+tt.want, out)
			}
		})
	}
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

// TestLogWarnings: serve logs each warning of the config as one line
// with its file, line and key.
func TestLogWarnings(t *testing.T) {
	cfg, err := conf.Parse("w.toml", []byte("[imap]\nlisten = "+
		"[\"0.0.0.0:143\"]\n[server]\ndata_dir = \"/srv/x\"\n"))
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	logWarnings(slog.New(slog.NewTextHandler(&b, nil)), cfg)
	for _, want := range []string{`msg="config warning"`, "file=w.toml",
		"line=2", "key=imap.listen[0]", `warning="\"0.0.0.0:143\" is off`} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("log lacks %s:\n%s", want, b.String())
		}
	}
	if n := strings.Count(b.String(), "\n"); n != 1 {
		t.Errorf("%d log lines, want 1", n)
	}
}
