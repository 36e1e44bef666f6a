package store

import (
	"bytes"
	"fmt"
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

// TestListCacheFile: a record that does not parse is skipped (the
// records after it are still read), a foreign file is ignored, dead
// records are compacted away, and a version 1 file is read and
// rewritten as version 2.
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
	head, rec, _ := strings.Cut(string(data), "\n")
	if head != listCacheHeader {
		t.Fatalf("header %q", head)
	}
	// A record cut short by a crash, records of messages long gone,
	// and the kept message's record again at the end.
	var b strings.Builder
	b.WriteString(head + "\n")
	b.WriteString("1.M1P1Q1.cut\t10\t0\t-\t+\t99\nSubject: c")
	for i := range 300 {
		fmt.Fprintf(&b, "1.M1P%dQ1.gone\t10\t0\t-\t+\t15\n"+
			"Subject: old\r\n\n", i)
	}
	b.WriteString(rec)
	os.WriteFile(path, []byte(b.String()), 0o600)
	for _, m := range msgs {
		os.Truncate(m.Path, 0) // entries must come from the cache
	}
	f2 := reopen(t, s)
	snapshot(t, f2)                 // the first scan compacts, in the background
	e, err := f2.ListEntry(msgs[0]) // waits for it
	if err != nil || string(e.Fields) != "Subject: kept\r\n" || !e.Complete {
		t.Errorf("entry after compaction: %+v, %v", e, err)
	}
	data, _ = os.ReadFile(path)
	if string(data) != head+"\n"+rec {
		t.Errorf("after compaction:\n%q\nwant\n%q", data, head+"\n"+rec)
	}

	// Version 1: one quoted line per message.
	os.WriteFile(path, []byte(listCacheHeaderV1+"\n"+msgs[0].Key+
		"\t24\t5\t\"Subject: kept\\r\\n\"\n"), 0o600)
	f4 := reopen(t, s)
	snapshot(t, f4)
	e, err = f4.ListEntry(msgs[0])
	if err != nil || string(e.Fields) != "Subject: kept\r\n" || e.Size != 24 {
		t.Errorf("entry from a version 1 file: %+v, %v", e, err)
	}
	if data, _ := os.ReadFile(path); !strings.HasPrefix(string(data),
		listCacheHeader+"\n") {
		t.Errorf("version 1 file not rewritten: %q", data)
	}

	// A file of another format is ignored, and the message read again.
	os.WriteFile(msgs[0].Path, []byte("Subject: kept\r\n\r\nx\r\n"), 0o600)
	os.WriteFile(path, []byte("something else 9\n"), 0o600)
	f3 := reopen(t, s)
	_, _, msgs3 := snapshot(t, f3)
	if e, err := f3.ListEntry(msgs3[0]); err != nil ||
		string(e.Fields) != "Subject: kept\r\n" {
		t.Errorf("entry with a foreign file: %+v, %v", e, err)
	}
}

// FuzzListCacheLoad: any cache file loads without a panic, and every
// entry's fields are bytes of the file.
func FuzzListCacheLoad(f *testing.F) {
	f.Add([]byte(listCacheHeader + "\n1.M1P1.h\t10\t5\t-\t+\t4\nab\r\n\n"))
	f.Add([]byte(listCacheHeader + "\nk\t1\t2\t3\t-\t99\nshort"))
	f.Add([]byte(listCacheHeaderV1 + "\nk\t1\t2\t\"a\"\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		path := filepath.Join(t.TempDir(), ListCacheFile)
		os.WriteFile(path, data, 0o600)
		var c listCache
		c.load(path)
		for k, e := range c.entries {
			if !validKey(k) || e.Size < 0 ||
				!bytes.Contains(data, e.Fields) && !bytes.HasPrefix(data,
					[]byte(listCacheHeaderV1)) {
				t.Fatalf("entry %q %+v from %q", k, e, data)
			}
		}
	})
}
