package store

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestListFields(t *testing.T) {
	tests := []struct {
		name, in, want string
		complete       bool
	}{
		{"kept and dropped fields", "Received: x\r\nFrom: a@b\r\n" +
			"X-Spam: yes\r\nSUBJECT: hi\r\n\r\nFrom: body\r\n",
			"From: a@b\r\nSUBJECT: hi\r\n", true},
		{"folded field", "Subject: one\r\n two\r\nX-A: b\r\n\tc\r\n" +
			"To: c@d\r\n\r\n", "Subject: one\r\n two\r\nTo: c@d\r\n", true},
		{"header only, no empty line", "Date: Fri, 4 Dec 2026\r\n",
			"Date: Fri, 4 Dec 2026\r\n", true},
		{"cut in a line", "From: a@b\r\nSubject: a very long", "From: " +
			"a@b\r\nSubject: a very long\r\n", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, complete, err := ListFieldsOf(strings.NewReader(tt.in))
			if err != nil || string(got) != tt.want ||
				complete != tt.complete {
				t.Errorf("got %q, %v, %v; want %q, %v", got, complete,
					err, tt.want, tt.complete)
			}
		})
	}
}

// TestListCacheSurvivesRestart lists a folder, restarts, and lists it
// again from the cache alone: the message files are cut short after the
// first listing, so only the cache can still give their fields.
func TestListCacheSurvivesRestart(t *testing.T) {
	s, a := newAccount(t)
	for _, subj := range []string{"one", "two", "three"} {
		deliver(t, s, testAddr, "From: x@y\r\nSubject: "+subj+
			"\r\nX-Other: z\r\n\r\nbody "+subj+"\r\n")
	}
	f, err := a.Folder("INBOX")
	if err != nil {
		t.Fatal(err)
	}
	_, _, msgs := snapshot(t, f)
	want := map[string]string{}
	for _, m := range msgs {
		e, err := f.ListEntry(m)
		if err != nil {
			t.Fatal(err)
		}
		want[m.Key] = string(e.Fields)
		if !strings.HasPrefix(string(e.Fields), "From: x@y\r\nSubject: ") ||
			strings.Contains(string(e.Fields), "X-Other") || !e.Complete {
			t.Errorf("entry %+v", e)
		}
	}
	if err := f.FlushListCache(); err != nil {
		t.Fatal(err)
	}
	for _, m := range msgs {
		if err := os.Truncate(m.Path, 0); err != nil {
			t.Fatal(err)
		}
	}
	f2 := reopen(t, s)
	_, _, msgs2 := snapshot(t, f2)
	for _, m := range msgs2 {
		e, err := f2.ListEntry(m)
		if err != nil {
			t.Fatal(err)
		}
		if string(e.Fields) != want[m.Key] || e.Size == 0 {
			t.Errorf("after a restart %s: %+v, want fields %q", m.Key, e,
				want[m.Key])
		}
	}
}

// TestListCacheFile: a line that does not parse is skipped, a foreign
// file is ignored, and dead lines are compacted away.
func TestListCacheFile(t *testing.T) {
	s, a := newAccount(t)
	deliver(t, s, testAddr, "Subject: kept\r\n\r\nx\r\n")
	f, _ := a.Folder("INBOX")
	_, _, msgs := snapshot(t, f)
	if _, err := f.ListEntry(msgs[0]); err != nil {
		t.Fatal(err)
	}
	f.FlushListCache()
	path := filepath.Join(a.Root(), ListCacheFile)
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	// Garbage and many lines of messages long gone.
	var b strings.Builder
	b.Write(data)
	b.WriteString("not a line\nk\tx\t1\t\"\"\n")
	for i := range 300 {
		b.WriteString("1.M1P" + strings.Repeat("9", i%9+1) +
			"Q1.gone\t10\t0\t\"Subject: old\\r\\n\"\n")
	}
	os.WriteFile(path, []byte(b.String()), 0o600)
	f2 := reopen(t, s)
	snapshot(t, f2) // the first scan compacts
	data, _ = os.ReadFile(path)
	if n := strings.Count(string(data), "\n"); n != 2 {
		t.Errorf("after compaction %d lines, want the header and one:\n%s",
			n, data)
	}
	e, err := f2.ListEntry(msgs[0])
	if err != nil || string(e.Fields) != "Subject: kept\r\n" {
		t.Errorf("entry after compaction: %+v, %v", e, err)
	}

	// A file of another format is ignored, and the message read again.
	os.WriteFile(path, []byte("something else 9\n"), 0o600)
	f3 := reopen(t, s)
	_, _, msgs3 := snapshot(t, f3)
	if e, err := f3.ListEntry(msgs3[0]); err != nil ||
		string(e.Fields) != "Subject: kept\r\n" {
		t.Errorf("entry with a foreign file: %+v, %v", e, err)
	}
}
