package main

import (
	"bytes"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/stratamail/continuity/conf"
	"github.com/stratamail/continuity/internal/testcert"
	"github.com/stratamail/continuity/relayq"
)

// relayDomain is a [[domain]] entry in relay mode for the config's end.
func relayDomain(name, relay string) string {
	return fmt.Sprintf("\n[[domain]]\nname = %q\nmode = \"relay\"\n"+
		"relay = %q\n", name, relay)
}

// reloadStatus asks the running server how its config was loaded.
func (e *testEnv) reloadStatus(t *testing.T) ReloadStatus {
	t.Helper()
	reply, err := callControl(filepath.Join(e.dir, "data"),
		controlRequest{Op: "status"})
	if err != nil || reply.Reload == nil {
		t.Fatalf("status over the control socket: %v", err)
	}
	return *reply.Reload
}

// TestLiveReload edits the config file under a running server: a new
// domain accepts mail at once, an invalid edit is refused whole and
// reported, and a removed domain stops taking mail while its queue
// still drains.
func TestLiveReload(t *testing.T) {
	dir := t.TempDir()
	e := startEnv(t, dir, freeAddr(t))
	newPrimary := freeAddr(t)
	send := func() error {
		return sendMail(t, e.smtp, "s@elsewhere.test",
			[]string{"u@new.test"}, testMessage("reload"))
	}
	if code := replyCode(send()); code != 554 {
		t.Fatalf("mail for an unknown domain: reply %d, want 554", code)
	}

	e.writeConfig(t, e.primary, relayDomain("new.test", newPrimary))
	waitFor(t, "the new domain to take mail", 10*time.Second, func() bool {
		return send() == nil
	})
	loaded := e.reloadStatus(t).Loaded

	// A broken edit: refused whole, reported with file, line and key.
	bad := relayDomain("new.test", newPrimary) +
		"\n[[domain]]\nname = \"bad.test\"\nmode = \"mirror\"\n"
	e.writeConfig(t, e.primary, bad)
	var st ReloadStatus
	waitFor(t, "the refused reload to be reported", 10*time.Second,
		func() bool {
			st = e.reloadStatus(t)
			return st.LastError != ""
		})
	line := bytes.Count(readFile(t, e.cfgPath)[:bytes.Index(
		readFile(t, e.cfgPath), []byte(`"mirror"`))], []byte("\n")) + 1
	want := fmt.Sprintf("%s:%d: domain[4].mode:", e.cfgPath, line)
	if !strings.Contains(st.LastError, want) || st.Loaded != loaded {
		t.Fatalf("reload status %+v, want an error with %q and the "+
			"old load time %v", st, want, loaded)
	}
	if err := send(); err != nil {
		t.Fatalf("the running config was dropped: %v", err)
	}
	out := runCLI(t, 1, "status", "-config", e.cfgPath)
	if !strings.Contains(out, want) ||
		!strings.Contains(out, "keeps its last valid configuration") {
		t.Errorf("status with a broken file:\n%s", out)
	}

	// Remove the domain: new mail is refused, the queue still drains to
	// the relay host it had.
	e.writeConfig(t, e.primary, "")
	waitFor(t, "the removed domain to refuse mail", 10*time.Second,
		func() bool { return replyCode(send()) == 554 })
	// Each send until the reload landed queued one more message.
	n := queueLen(t, filepath.Join(dir, "data"), "new.test")
	if n < 2 {
		t.Fatalf("%d messages queued for new.test, want 2 or more", n)
	}
	p := startPrimary(t, newPrimary)
	runCLI(t, 0, "queue", "flush", "-config", e.cfgPath, "-domain",
		"new.test")
	waitFor(t, "the removed domain's queue to drain", 20*time.Second,
		func() bool { return len(p.received()) == n })
	if st := e.reloadStatus(t); st.LastError != "" {
		t.Errorf("a good reload left the error %q", st.LastError)
	}
	out = runCLI(t, 0, "status", "-config", e.cfgPath)
	if !strings.Contains(out, "server: running; "+e.cfgPath+" loaded") ||
		strings.Contains(out, "REFUSED") {
		t.Errorf("status after a good reload:\n%s", out)
	}
}

func readFile(t *testing.T, path string) []byte {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// TestTLSReload renews the certificate files under a running server:
// new STARTTLS connections get the new certificate, with no change to
// the config file and no restart.
func TestTLSReload(t *testing.T) {
	dir := t.TempDir()
	certDir := filepath.Join(dir, "tls")
	if err := os.Mkdir(certDir, 0o700); err != nil {
		t.Fatal(err)
	}
	cert, key := testcert.WritePair(t, certDir, "mx", "old.test")
	tlsTable := fmt.Sprintf("\n[tls]\ncert = %q\nkey = %q\n", cert, key)
	e := startEnv(t, dir, freeAddr(t), tlsTable)
	if got := peerName(t, e.smtp); got != "old.test" {
		t.Fatalf("STARTTLS serves %q, want old.test", got)
	}

	// Renew as certbot's deploy hooks do: new files renamed into place.
	newCert, newKey := testcert.WritePair(t, dir, "renewed", "new.test")
	for from, to := range map[string]string{newKey: key, newCert: cert} {
		if err := os.Rename(from, to); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, "the renewed certificate", 10*time.Second, func() bool {
		return peerName(t, e.smtp) == "new.test"
	})
}

// peerName returns the name in the certificate STARTTLS shows at addr.
func peerName(t *testing.T, addr string) string {
	t.Helper()
	c, err := smtp.DialStartTLS(addr, &tls.Config{InsecureSkipVerify: true})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Hello("client.test"); err != nil { // the handshake
		t.Fatal(err)
	}
	st, ok := c.TLSConnectionState()
	if !ok || len(st.PeerCertificates) == 0 {
		t.Fatal("no TLS state after STARTTLS")
	}
	return st.PeerCertificates[0].Subject.CommonName
}

// queueIDs returns the IDs "queue list -json" shows, oldest first, and
// which of them are held.
func queueIDs(t *testing.T, cfgPath string) ([]string, map[string]bool) {
	t.Helper()
	var entries []relayq.Entry
	out := runCLI(t, 0, "queue", "list", "-json", "-config", cfgPath)
	if err := json.Unmarshal([]byte(out), &entries); err != nil {
		t.Fatalf("queue list -json: %v\n%s", err, out)
	}
	var ids []string
	held := map[string]bool{}
	for _, e := range entries {
		ids = append(ids, e.ID)
		held[e.ID] = e.Held
	}
	return ids, held
}

// TestQueueManager drives queue show, hold, release, flush and delete
// against a running server and then against a stopped one.
func TestQueueManager(t *testing.T) {
	dir := t.TempDir()
	e := startEnv(t, dir, freeAddr(t))
	for i := range 4 {
		err := sendMail(t, e.smtp, "s@elsewhere.test",
			[]string{"bob@example.test"},
			testMessage(fmt.Sprintf("queued %d", i)))
		if err != nil {
			t.Fatal(err)
		}
	}
	ids, _ := queueIDs(t, e.cfgPath)
	if len(ids) != 4 {
		t.Fatalf("%d entries, want 4", len(ids))
	}
	// The primary is down: a followed flush says it stopped moving.
	var follow strings.Builder
	cfg, err := conf.Load(e.cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	followFlush(&follow, cfg, "example.test", 4, 10*time.Millisecond,
		100*time.Millisecond)
	if !strings.Contains(follow.String(), "example.test: 4 message(s) "+
		"still queued; none left in the last 100ms") {
		t.Errorf("followFlush with the primary down:\n%s", follow.String())
	}
	cli := func(want int, args ...string) string {
		return runCLI(t, want, append(append([]string{"queue"}, args...),
			"-config", e.cfgPath)...)
	}
	// Flags go before IDs.
	q := func(want int, op string, rest ...string) string {
		args := append([]string{"queue", op, "-config", e.cfgPath}, rest...)
		return runCLI(t, want, args...)
	}

	out := q(0, "show", ids[0])
	for _, s := range []string{"sender:", "s@elsewhere.test",
		"bob@example.test", "Subject: queued 0"} {
		if !strings.Contains(out, s) {
			t.Errorf("queue show lacks %q:\n%s", s, out)
		}
	}
	q(1, "show", "0000-no-such-entry")
	q(2, "show")
	q(2, "hold") // an ID is needed

	if out := q(0, "hold", ids[0], ids[1]); !strings.Contains(out,
		"held 2 message(s)") {
		t.Errorf("hold: %s", out)
	}
	if _, held := queueIDs(t, e.cfgPath); !held[ids[0]] || !held[ids[1]] ||
		held[ids[2]] {
		t.Errorf("held entries after hold: %v", held)
	}
	if out := q(1, "flush", ids[0]); !strings.Contains(out, "is held") {
		t.Errorf("flush of a held entry: %s", out)
	}
	q(0, "release", ids[1])
	q(1, "release", ids[2]) // not held
	q(0, "flush", ids[1])
	if out := q(0, "delete", ids[3]); !strings.Contains(out,
		"deleted 1 message(s)") {
		t.Errorf("delete: %s", out)
	}
	q(2, "delete", "-domain", "example.test", ids[2])
	cli(1, "delete", "-domain", "nowhere.test")

	// With the server stopped the CLI acts on the folder itself.
	e.stop()
	q(1, "flush", ids[1]) // flushing needs the server
	q(0, "release", ids[0])
	if _, held := queueIDs(t, e.cfgPath); held[ids[0]] {
		t.Error("offline release did not stick")
	}
	if out := cli(0, "delete", "-domain", "example.test"); !strings.Contains(
		out, "deleted 3 message(s)") {
		t.Errorf("delete -domain: %s", out)
	}
	if ids, _ := queueIDs(t, e.cfgPath); len(ids) != 0 {
		t.Errorf("entries left after delete -domain: %v", ids)
	}
	// The shadow mailbox keeps its copies.
	if n := len(maildirFiles(t, filepath.Join(dir, "data", "mail",
		"example.test", "bob"))); n != 4 {
		t.Errorf("bob's mailbox holds %d messages, want 4", n)
	}
}

// TestQueueWithBrokenConfig: with the config file broken, the queue
// commands say how to go on, and work with -data-dir.
func TestQueueWithBrokenConfig(t *testing.T) {
	dir := t.TempDir()
	e := startEnv(t, dir, freeAddr(t))
	if err := sendMail(t, e.smtp, "s@elsewhere.test",
		[]string{"bob@example.test"}, testMessage("kept")); err != nil {
		t.Fatal(err)
	}
	e.stop()
	if err := os.WriteFile(e.cfgPath, []byte("[server\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	out := runCLI(t, 1, "queue", "list", "-config", e.cfgPath)
	if !strings.Contains(out, "-data-dir") {
		t.Errorf("no hint at -data-dir:\n%s", out)
	}
	data := filepath.Join(dir, "data")
	out = runCLI(t, 0, "queue", "list", "-data-dir", data)
	if !strings.Contains(out, "1 message(s)") {
		t.Errorf("queue list -data-dir:\n%s", out)
	}
	out = runCLI(t, 0, "queue", "delete", "-data-dir", data, "-domain",
		"example.test")
	if !strings.Contains(out, "deleted 1 message(s)") {
		t.Errorf("queue delete -data-dir:\n%s", out)
	}
}
