package relayq

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stratamail/continuity/conf"
)

const testBody = "From: s@elsewhere.test\r\nSubject: hi\r\n\r\n" +
	"Hello.\r\n.a line with a dot\r\n"

// queueFiles lists the queue folder, without the corrupt/ subfolder.
func queueFiles(t *testing.T, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range ents {
		if e.Name() != corruptDir {
			out = append(out, e.Name())
		}
	}
	return out
}

func TestEnqueueLinksAndReopens(t *testing.T) {
	e := newEnv(t, "127.0.0.1:1", newFakeClock())
	src := e.spoolFile(testBody)
	id, err := e.q.Enqueue(src, &conf.Domain{Name: "Example.TEST",
		Relay: "127.0.0.1:1"}, "",
		[]string{"a@example.test", "SALES@Example.TEST"})
	if err != nil {
		t.Fatal(err)
	}

	// The message is a hard link: one inode with the spool file.
	a, err := os.Stat(src)
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.Stat(msgPath(e.qdir, id))
	if err != nil {
		t.Fatal(err)
	}
	if !os.SameFile(a, b) {
		t.Error("queued message is not a hard link to the spool file")
	}

	// The envelope is on disk.
	env, err := readEnvelope(envPath(e.qdir, id))
	if err != nil {
		t.Fatal(err)
	}
	if env.Domain != "example.test" || env.Sender != "" ||
		env.Relay != "127.0.0.1:1" || len(env.Rcpts) != 2 ||
		env.Rcpts[1].Addr != "SALES@Example.TEST" ||
		env.Rcpts[1].State != statePending {
		t.Errorf("envelope on disk: %+v", env)
	}

	// A new Queue and ReadDir see the same entry.
	want := Entry{ID: id, Domain: "example.test", Sender: "",
		Recipients: []string{"a@example.test", "SALES@Example.TEST"},
		Size:       int64(len(testBody)), Arrived: e.clock.Now(),
		NextAttempt: e.clock.Now()}
	got, _ := e.open().List("example.test")
	fromDisk, err := ReadDir(e.qdir, "EXAMPLE.test")
	if err != nil {
		t.Fatal(err)
	}
	for name, es := range map[string][]Entry{"List": got,
		"ReadDir": fromDisk} {
		if len(es) != 1 || !entryEqual(es[0], want) {
			t.Errorf("%s = %+v, want %+v", name, es, want)
		}
	}
	if es, _ := ReadDir(e.qdir, "other.test"); len(es) != 0 {
		t.Errorf("ReadDir(other.test) = %v", es)
	}
}

func entryEqual(a, b Entry) bool {
	return a.ID == b.ID && a.Domain == b.Domain && a.Sender == b.Sender &&
		slices.Equal(a.Recipients, b.Recipients) &&
		slices.Equal(a.Failed, b.Failed) && a.Size == b.Size &&
		a.Arrived.Equal(b.Arrived) && a.Attempts == b.Attempts &&
		a.NextAttempt.Equal(b.NextAttempt) &&
		a.LastError == b.LastError && a.Held == b.Held
}

func TestEnqueueRefusesAndLeavesNothing(t *testing.T) {
	tests := []struct {
		name, domain, from string
		rcpts              []string
		missing            bool
	}{
		{"no recipients", "example.test", "s@x.test", nil, false},
		{"empty domain", "", "s@x.test", []string{"a@example.test"}, false},
		{"slash in domain", "a/b", "", []string{"a@example.test"}, false},
		{"CRLF in sender", "example.test", "s@x\r\nRCPT TO:<x>",
			[]string{"a@example.test"}, false},
		{"empty recipient", "example.test", "", []string{""}, false},
		{"LF in recipient", "example.test", "", []string{"a\n@b"}, false},
		{"missing message", "example.test", "", []string{"a@b"}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, "127.0.0.1:1", newFakeClock())
			src := e.spoolFile(testBody)
			if tt.missing {
				src += ".gone"
			}
			_, err := e.q.Enqueue(src, e.domain(tt.domain), tt.from,
				tt.rcpts)
			if err == nil {
				t.Fatal("Enqueue succeeded")
			}
			if fs := queueFiles(t, e.qdir); len(fs) != 0 {
				t.Errorf("left behind: %v", fs)
			}
		})
	}
}

func TestCancelLeavesNothing(t *testing.T) {
	e := newEnv(t, "127.0.0.1:1", newFakeClock())
	src := e.spoolFile(testBody)
	id, err := e.q.Enqueue(src, e.domain("example.test"), "s@x.test",
		[]string{"a@example.test"})
	if err != nil {
		t.Fatal(err)
	}
	keep := e.enqueue(testBody, "s@x.test", "b@example.test")
	if err := e.q.Cancel(id); err != nil {
		t.Fatal(err)
	}
	files := queueFiles(t, e.qdir)
	want := []string{keep + envSuffix, keep + msgSuffix}
	if !slices.Equal(files, want) {
		t.Errorf("queue folder = %v, want %v", files, want)
	}
	if _, err := os.Stat(src); err != nil {
		t.Errorf("spool file harmed: %v", err)
	}
	for _, bad := range []string{id, "../queue", "", "X"} {
		if err := e.q.Cancel(bad); !errors.Is(err, ErrNotFound) {
			t.Errorf("Cancel(%q) = %v, want ErrNotFound", bad, err)
		}
	}
	if err := e.q.Remove(keep); err != nil {
		t.Fatal(err)
	}
	if fs := queueFiles(t, e.qdir); len(fs) != 0 {
		t.Errorf("after Remove: %v", fs)
	}
}

func TestOpenMovesCorruptAside(t *testing.T) {
	e := newEnv(t, "127.0.0.1:1", newFakeClock())
	good := e.enqueue(testBody, "s@x.test", "a@example.test")
	data, err := os.ReadFile(envPath(e.qdir, good))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		record string
		msg    bool
	}{
		{"truncated", string(data[:len(data)/2]), true},
		{"empty", "", true},
		{"garbage", "\x00\xff not json", true},
		{"wrong version", strings.Replace(string(data),
			`"version":1`, `"version":7`, 1), true},
		{"no message", string(data), false},
		{"two records", string(data) + string(data), true},
	}
	for i, tt := range tests {
		id := "bad-" + string(rune('a'+i))
		rec := strings.Replace(tt.record, good, id, 1)
		if err := os.WriteFile(envPath(e.qdir, id), []byte(rec),
			0o600); err != nil {
			t.Fatal(err)
		}
		if tt.msg {
			os.WriteFile(msgPath(e.qdir, id), []byte(testBody), 0o600)
		}
	}
	// Leftovers of a crash: a temp record and a message alone.
	os.WriteFile(envPath(e.qdir, "x")+tmpSuffix, []byte("{"), 0o600)
	os.WriteFile(msgPath(e.qdir, "orphan"), []byte(testBody), 0o600)

	q := e.open()
	es, _ := q.List("")
	if len(es) != 1 || es[0].ID != good {
		t.Errorf("loaded %v, want only %s", es, good)
	}
	files := queueFiles(t, e.qdir)
	if want := []string{good + envSuffix, good + msgSuffix}; !slices.Equal(
		files, want) {
		t.Errorf("queue folder = %v, want %v", files, want)
	}
	for i, tt := range tests {
		id := "bad-" + string(rune('a'+i))
		p := filepath.Join(e.qdir, corruptDir, id+envSuffix)
		if _, err := os.Stat(p); err != nil {
			t.Errorf("%s: record not in corrupt/: %v", tt.name, err)
		}
	}
}

func TestConcurrentEnqueue(t *testing.T) {
	e := newEnv(t, "127.0.0.1:1", newFakeClock())
	const n = 64
	srcs := make([]string, n)
	for i := range srcs {
		srcs[i] = e.spoolFile(testBody)
	}
	ids := make([]string, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			id, err := e.q.Enqueue(srcs[i], e.domain("example.test"),
				"s@x.test",
				[]string{"a@example.test"})
			if err != nil {
				t.Error(err)
			}
			ids[i] = id
		})
	}
	wg.Wait()
	seen := map[string]bool{}
	for i, id := range ids {
		if seen[id] {
			t.Fatalf("duplicate id %s", id)
		}
		seen[id] = true
		a, _ := os.Stat(srcs[i])
		b, err := os.Stat(msgPath(e.qdir, id))
		if err != nil || !os.SameFile(a, b) {
			t.Errorf("entry %s is not linked to %s", id, srcs[i])
		}
	}
	if es, _ := ReadDir(e.qdir, ""); len(es) != n {
		t.Errorf("ReadDir found %d entries, want %d", len(es), n)
	}
}

func TestReadDirMissingFolder(t *testing.T) {
	es, err := ReadDir(filepath.Join(t.TempDir(), "none"), "")
	if err != nil || es != nil {
		t.Errorf("ReadDir = %v, %v", es, err)
	}
}

func TestListOldestFirst(t *testing.T) {
	clock := newFakeClock()
	e := newEnv(t, "127.0.0.1:1", clock)
	var want []string
	for range 3 {
		want = append(want, e.enqueue(testBody, "", "a@example.test"))
		clock.Advance(time.Second)
	}
	es, _ := e.q.List("")
	var got []string
	for _, x := range es {
		got = append(got, x.ID)
	}
	if !slices.Equal(got, want) {
		t.Errorf("List order %v, want %v", got, want)
	}
}
