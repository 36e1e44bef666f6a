package store

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

const testAddr = "alice@example.com"

// newAccount opens a fresh store and account in a temp dir.
func newAccount(t *testing.T) (*Store, *Account) {
	t.Helper()
	s, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	a, err := s.Account(testAddr)
	if err != nil {
		t.Fatal(err)
	}
	return s, a
}

// deliver puts a message into addr's INBOX the way intake does.
func deliver(t *testing.T, s *Store, addr, body string) {
	t.Helper()
	sp, err := s.NewSpool()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sp.Write([]byte(body)); err != nil {
		t.Fatal(err)
	}
	if err := sp.Commit(); err != nil {
		t.Fatal(err)
	}
	if _, err := s.DeliverNew(sp, []string{addr}); err != nil {
		t.Fatal(err)
	}
	if err := sp.Discard(); err != nil {
		t.Fatal(err)
	}
}

// snapshot returns the UIDs, keys and flags of a folder.
func snapshot(t *testing.T, f *Folder) (v, next uint32, msgs []Message) {
	t.Helper()
	err := f.Locked(func(vw *View) error {
		v, next = vw.UIDValidity(), vw.UIDNext()
		for i := 0; i < vw.Len(); i++ {
			msgs = append(msgs, vw.At(i))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return v, next, msgs
}

func uidsOf(msgs []Message) []uint32 {
	var u []uint32
	for _, m := range msgs {
		u = append(u, m.UID)
	}
	return u
}

// reopen returns the INBOX of the same account through a new Store, as
// after a restart.
func reopen(t *testing.T, s *Store) *Folder {
	t.Helper()
	s2, err := Open(s.DataDir())
	if err != nil {
		t.Fatal(err)
	}
	a, err := s2.Account(testAddr)
	if err != nil {
		t.Fatal(err)
	}
	f, err := a.Folder("inbox")
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func TestUIDsPersistAndAreNeverReused(t *testing.T) {
	s, a := newAccount(t)
	for i := 0; i < 3; i++ {
		deliver(t, s, testAddr, fmt.Sprintf("Subject: %d\r\n\r\nx\r\n", i))
	}
	inbox, err := a.Folder(Inbox)
	if err != nil {
		t.Fatal(err)
	}
	v1, _, msgs := snapshot(t, inbox)
	if got := fmt.Sprint(uidsOf(msgs)); got != "[1 2 3]" {
		t.Fatalf("uids = %s", got)
	}

	// Expunge UID 3 (the highest), then restart: 3 must not come back.
	err = inbox.Locked(func(v *View) error { return v.Expunge([]int{2}) })
	if err != nil {
		t.Fatal(err)
	}
	deliver(t, s, testAddr, "Subject: 4\r\n\r\nx\r\n")
	v2, next, msgs := snapshot(t, reopen(t, s))
	if v1 != v2 {
		t.Errorf("UIDVALIDITY changed across restart: %d → %d", v1, v2)
	}
	if got := fmt.Sprint(uidsOf(msgs)); got != "[1 2 4]" {
		t.Errorf("uids after restart = %s, want [1 2 4]", got)
	}
	if next != 5 {
		t.Errorf("UIDNEXT = %d, want 5", next)
	}
}

func TestVanishedFileExpungesOnlyItsUID(t *testing.T) {
	s, a := newAccount(t)
	for i := 0; i < 4; i++ {
		deliver(t, s, testAddr, fmt.Sprintf("Subject: %d\r\n\r\n", i))
	}
	inbox, _ := a.Folder(Inbox)
	_, _, msgs := snapshot(t, inbox)
	obs := &recorder{}
	inbox.Locked(func(v *View) error { v.SetObserver(obs); return nil })
	if err := os.Remove(msgs[1].Path); err != nil {
		t.Fatal(err)
	}
	_, _, after := snapshot(t, inbox)
	if got := fmt.Sprint(uidsOf(after)); got != "[1 3 4]" {
		t.Errorf("uids = %s, want [1 3 4]", got)
	}
	if got := strings.Join(obs.events, ","); got != "expunge 2" {
		t.Errorf("observer saw %q", got)
	}
	_, _, again := snapshot(t, reopen(t, s))
	if got := fmt.Sprint(uidsOf(again)); got != "[1 3 4]" {
		t.Errorf("uids after restart = %s", got)
	}
}

func TestNewFilesGetIncreasingUIDsByName(t *testing.T) {
	_, a := newAccount(t)
	inbox, _ := a.Folder(Inbox)
	snapshot(t, inbox)
	// A restore drops files into cur/ and new/ directly.
	for _, n := range []string{"300.b", "100.a:2,S", "200.c:2,"} {
		sub := "cur"
		if !strings.Contains(n, ":") {
			sub = "new"
		}
		p := filepath.Join(a.Root(), sub, n)
		if err := os.WriteFile(p, []byte("Subject: x\r\n\r\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	_, next, msgs := snapshot(t, inbox)
	var keys []string
	for _, m := range msgs {
		keys = append(keys, fmt.Sprintf("%d=%s/%s", m.UID, m.Key, m.Flags))
	}
	want := "1=100.a/S 2=200.c/ 3=300.b/"
	if got := strings.Join(keys, " "); got != want {
		t.Errorf("got %s, want %s", got, want)
	}
	if next != 4 || msgs[0].Size != 14 {
		t.Errorf("next = %d, size = %d", next, msgs[0].Size)
	}
}

func TestFlagsRoundTripAndNewToCurKeepsUID(t *testing.T) {
	s, a := newAccount(t)
	deliver(t, s, testAddr, "Subject: a\r\n\r\nbody\r\n")
	inbox, _ := a.Folder(Inbox)
	tests := []struct{ set, want string }{
		{"S", "S"},
		{"TSF", "FST"},
		{"xSRR", "RS"},
		{"", ""},
		{"DP", "DP"},
	}
	for _, tt := range tests {
		err := inbox.Locked(func(v *View) error {
			_, err := v.SetFlags(0, tt.set, nil)
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		_, _, msgs := reopenSnapshot(t, s)
		m := msgs[0]
		if m.UID != 1 || m.Flags != tt.want {
			t.Errorf("set %q: uid %d flags %q, want 1 %q",
				tt.set, m.UID, m.Flags, tt.want)
		}
		wantName := m.Key + ":2," + tt.want
		if filepath.Base(m.Path) != wantName ||
			filepath.Base(filepath.Dir(m.Path)) != "cur" {
			t.Errorf("path %s, want cur/%s", m.Path, wantName)
		}
	}
}

func reopenSnapshot(t *testing.T, s *Store) (uint32, uint32, []Message) {
	return snapshot(t, reopen(t, s))
}

func TestKeywordLettersKept(t *testing.T) {
	_, a := newAccount(t)
	p := filepath.Join(a.Root(), "cur", "1.x:2,Sa")
	os.WriteFile(p, []byte("x"), 0o600)
	inbox, _ := a.Folder(Inbox)
	err := inbox.Locked(func(v *View) error {
		m, err := v.SetFlags(0, "F", nil)
		if m.Flags != "Fa" {
			t.Errorf("flags %q, want Fa", m.Flags)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestAppendAndImport(t *testing.T) {
	_, a := newAccount(t)
	inbox, _ := a.Folder(Inbox)
	date := time.Date(2024, 5, 6, 7, 8, 9, 0, time.UTC)
	msg := "Subject: hi\r\n\r\nhello\r\n"
	_, uid, err := inbox.Append(strings.NewReader(msg), int64(len(msg)),
		"S", date)
	if err != nil || uid != 1 {
		t.Fatalf("append: uid %d, %v", uid, err)
	}

	// Truncated: fewer bytes than announced must fail and store nothing.
	_, _, err = inbox.Append(strings.NewReader("short"), 100, "", date)
	if !errors.Is(err, ErrTruncated) {
		t.Errorf("truncated append: %v", err)
	}
	_, _, msgs := snapshot(t, inbox)
	if len(msgs) != 1 {
		t.Fatalf("%d messages after truncated append", len(msgs))
	}
	fi, _ := os.Stat(msgs[0].Path)
	if !fi.ModTime().Equal(date) || fi.Mode().Perm() != 0o600 {
		t.Errorf("mtime %v mode %v", fi.ModTime(), fi.Mode())
	}
	tmp, _ := os.ReadDir(filepath.Join(a.Root(), "tmp"))
	if len(tmp) != 0 {
		t.Errorf("tmp/ not empty: %v", tmp)
	}

	sent, _ := a.Folder("Sent")
	v, uids, err := sent.Import([]Source{{msgs[0].Path, "FS"}})
	if err != nil || len(uids) != 1 || uids[0] != 1 || v == 0 {
		t.Fatalf("import: %v %v %v", v, uids, err)
	}
	_, _, sm := snapshot(t, sent)
	data, _ := os.ReadFile(sm[0].Path)
	if !bytes.Equal(data, []byte(msg)) || sm[0].Flags != "FS" {
		t.Errorf("imported %q flags %q", data, sm[0].Flags)
	}
}

func TestCorruptUIDListGetsNewValidity(t *testing.T) {
	s, a := newAccount(t)
	deliver(t, s, testAddr, "Subject: a\r\n\r\n")
	inbox, _ := a.Folder(Inbox)
	v1, _, _ := snapshot(t, inbox)
	p := filepath.Join(a.Root(), UIDListFile)
	os.WriteFile(p, []byte("garbage\n"), 0o600)
	v2, _, msgs := snapshot(t, reopen(t, s))
	if v2 <= v1 || len(msgs) != 1 || msgs[0].UID != 1 {
		t.Errorf("validity %d→%d, msgs %v", v1, v2, msgs)
	}
	m, _ := filepath.Glob(p + ".corrupt-*")
	if len(m) != 1 {
		t.Errorf("corrupt file not kept aside: %v", m)
	}
}

// TestConcurrentSessions runs deliveries, scans, flag changes and
// expunges from many goroutines; run it with -race.
func TestConcurrentSessions(t *testing.T) {
	s, a := newAccount(t)
	inbox, _ := a.Folder(Inbox)
	var wg sync.WaitGroup
	for g := 0; g < 4; g++ {
		wg.Add(2)
		go func() {
			defer wg.Done()
			for i := 0; i < 10; i++ {
				deliver(t, s, testAddr, "Subject: c\r\n\r\n")
			}
		}()
		go func() {
			defer wg.Done()
			for i := 0; i < 20; i++ {
				inbox.Locked(func(v *View) error {
					if v.Len() == 0 {
						return nil
					}
					v.SetFlags(i%v.Len(), "T", nil)
					if i%5 == 0 {
						return v.Expunge([]int{0})
					}
					return nil
				})
			}
		}()
	}
	wg.Wait()
	_, next, msgs := snapshot(t, inbox)
	seen := map[uint32]bool{}
	for _, m := range msgs {
		if seen[m.UID] || m.UID >= next {
			t.Fatalf("bad uid %d (next %d)", m.UID, next)
		}
		seen[m.UID] = true
	}
	if next != 41 {
		t.Errorf("UIDNEXT %d, want 41 (40 deliveries)", next)
	}
}

// recorder is an Observer that notes what it is told.
type recorder struct{ events []string }

func (r *recorder) Expunged(seq uint32) {
	r.events = append(r.events, fmt.Sprintf("expunge %d", seq))
}
func (r *recorder) Appended(n uint32) {
	r.events = append(r.events, fmt.Sprintf("exists %d", n))
}
func (r *recorder) FlagsChanged(seq uint32, m Message, _ any) {
	r.events = append(r.events, fmt.Sprintf("flags %d %s", seq, m.Flags))
}

// TestScanSkipsUnchangedFolders: a folder whose new/ and cur/ look
// unchanged is not read again until rescanEvery has passed, and then a
// file that arrived within the same tick of the filesystem's clock shows.
func TestScanSkipsUnchangedFolders(t *testing.T) {
	s, a := newAccount(t)
	deliver(t, s, testAddr, "Subject: one\r\n\r\n1\r\n")
	f, err := a.Folder("INBOX")
	if err != nil {
		t.Fatal(err)
	}
	if _, _, msgs := snapshot(t, f); len(msgs) != 1 {
		t.Fatalf("%d messages, want 1", len(msgs))
	}
	// A second message, with new/'s time put back as it was: as if it
	// came within the same tick.
	newDir := filepath.Join(a.Root(), "new")
	fi, err := os.Stat(newDir)
	if err != nil {
		t.Fatal(err)
	}
	deliver(t, s, testAddr, "Subject: two\r\n\r\n2\r\n")
	if err := os.Chtimes(newDir, fi.ModTime(), fi.ModTime()); err != nil {
		t.Fatal(err)
	}
	if _, _, msgs := snapshot(t, f); len(msgs) != 1 {
		t.Errorf("the folder was read again: %d messages", len(msgs))
	}
	f.mu.Lock()
	f.readAt = f.readAt.Add(-rescanEvery)
	f.mu.Unlock()
	if _, _, msgs := snapshot(t, f); len(msgs) != 2 {
		t.Errorf("after rescanEvery: %d messages, want 2", len(msgs))
	}
}
