package main

import (
	"bytes"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/mail"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
)

// The crash test: "stratamail serve" runs as a child process and is
// killed with SIGKILL at random moments while clients send mail to it.
// After the last restart the primary comes up; every message that got a
// 250 must reach it and the shadow mailbox. contrib/crash/crash.sh runs
// a longer version through the environment variables below.

// childEnv makes the test binary run as the stratamail command.
const childEnv = "STRATAMAIL_TEST_CHILD"

func TestMain(m *testing.M) {
	if os.Getenv(childEnv) == "1" {
		os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
	}
	os.Exit(m.Run())
}

// envInt returns the integer in the environment variable name, or def.
func envInt(t *testing.T, name string, def int) int {
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 {
		t.Fatalf("%s=%q: want a positive integer", name, v)
	}
	return n
}

// crashLedger records what the clients were told.
type crashLedger struct {
	mu      sync.Mutex
	acked   map[string]bool // subject → got 250
	unknown int             // transactions cut off before a reply
}

func TestCrashNoLoss(t *testing.T) {
	if testing.Short() {
		t.Skip("the crash test runs the server as a child process")
	}
	rounds := envInt(t, "STRATAMAIL_CRASH_ROUNDS", 4)
	senders := envInt(t, "STRATAMAIL_CRASH_SENDERS", 4)
	maxLife := envInt(t, "STRATAMAIL_CRASH_MAX_MS", 600)

	dir := t.TempDir()
	e := &testEnv{dir: dir, primary: freeAddr(t), smtp: freeAddr(t),
		imap: freeAddr(t), cfgPath: filepath.Join(dir, "stratamail.toml")}
	e.writeConfig(t, e.primary, "")
	logPath := filepath.Join(dir, "server.log")
	ledger := &crashLedger{acked: map[string]bool{}}

	for r := range rounds {
		child := startChild(t, e, logPath)
		stop := make(chan struct{})
		var wg sync.WaitGroup
		for s := range senders {
			wg.Go(func() { sendUntil(e.smtp, r, s, ledger, stop) })
		}
		life := time.Duration(50+rand.IntN(maxLife)) * time.Millisecond
		time.Sleep(life)
		child.Process.Signal(syscall.SIGKILL)
		child.Wait()
		close(stop)
		wg.Wait()
	}

	// The last start, with the primary up: everything must arrive.
	p := startPrimary(t, e.primary)
	child := startChild(t, e, logPath)
	defer func() {
		child.Process.Signal(syscall.SIGTERM)
		child.Wait()
	}()
	acked := ledger.acked
	t.Logf("%d rounds, %d messages acknowledged, %d cut off",
		rounds, len(acked), ledger.unknown)
	if len(acked) == 0 {
		t.Fatal("no message was acknowledged: the test tested nothing")
	}
	deadline := time.Now().Add(60 * time.Second)
	var got map[string]int
	for time.Now().Before(deadline) {
		got = countSubjects(t, p.received())
		if missing(acked, got) == 0 &&
			queueLen(t, filepath.Join(dir, "data"), "") == 0 {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	lost, dups := missing(acked, got), 0
	for _, n := range got {
		dups += n - 1
	}
	t.Logf("primary: %d distinct messages, %d duplicates, %d lost",
		len(got), dups, lost)
	if lost > 0 {
		t.Errorf("%d acknowledged messages never reached the primary; "+
			"server log: %s", lost, tail(logPath))
	}
	// The shadow mailbox has every acknowledged message too.
	inbox := filepath.Join(dir, "data", "mail", "example.test", "alice")
	var stored []primaryMsg
	for _, f := range maildirFiles(t, inbox) {
		stored = append(stored, primaryMsg{data: readFile(t, f)})
	}
	if n := missing(acked, countSubjects(t, stored)); n > 0 {
		t.Errorf("%d acknowledged messages are not in the shadow mailbox",
			n)
	}
}

// startChild starts "stratamail serve" on e's config, logging to
// logPath, and waits for its SMTP listener.
func startChild(t *testing.T, e *testEnv, logPath string) *exec.Cmd {
	t.Helper()
	logf, err := os.OpenFile(logPath,
		os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer logf.Close()
	cmd := exec.Command(os.Args[0], "serve", "-config", e.cfgPath)
	cmd.Env = append(os.Environ(), childEnv+"=1")
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		c, err := net.Dial("tcp", e.smtp)
		if err == nil {
			c.Close()
			return cmd
		}
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			cmd.Wait()
			t.Fatalf("the server did not start: %s", tail(logPath))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// sendUntil sends messages to addr until stop closes, recording each
// 250 in l. A transaction cut off by the kill is counted as unknown:
// the server may or may not have kept it.
func sendUntil(addr string, round, sender int, l *crashLedger,
	stop <-chan struct{}) {
	for n := 0; ; n++ {
		select {
		case <-stop:
			return
		default:
		}
		subject := fmt.Sprintf("crash r%d s%d n%d", round, sender, n)
		err := sendOne(addr, subject)
		l.mu.Lock()
		if err == nil {
			l.acked[subject] = true
		} else {
			l.unknown++
		}
		l.mu.Unlock()
		if err != nil {
			return // the server is gone for this round
		}
	}
}

// sendOne sends one small message; nil means the server answered 250.
func sendOne(addr, subject string) error {
	c, err := smtp.Dial(addr)
	if err != nil {
		return err
	}
	defer c.Close()
	if err := c.SendMail("s@elsewhere.test",
		[]string{"alice@example.test"},
		bytes.NewReader([]byte(testMessage(subject)))); err != nil {
		return err
	}
	return nil
}

// countSubjects counts the messages of msgs by Subject.
func countSubjects(t *testing.T, msgs []primaryMsg) map[string]int {
	t.Helper()
	got := map[string]int{}
	for _, m := range msgs {
		msg, err := mail.ReadMessage(bytes.NewReader(m.data))
		if err != nil {
			t.Errorf("a message does not parse: %v", err)
			continue
		}
		got[msg.Header.Get("Subject")]++
	}
	return got
}

// missing counts the acknowledged subjects not in got.
func missing(acked map[string]bool, got map[string]int) int {
	n := 0
	for s := range acked {
		if got[s] == 0 {
			n++
		}
	}
	return n
}

// tail returns the end of the file at path, for a failure message.
func tail(path string) string {
	f, err := os.Open(path)
	if err != nil {
		return err.Error()
	}
	defer f.Close()
	data, _ := io.ReadAll(f)
	if len(data) > 4000 {
		data = data[len(data)-4000:]
	}
	return "\n" + string(data)
}
