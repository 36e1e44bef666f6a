package store

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// BenchmarkColdFolder is a folder's first use after a restart, as
// SELECT and a list view see it: the UID list and the list cache read
// back, new/ and cur/ listed, and the list entry of every message.
func BenchmarkColdFolder(b *testing.B) {
	const n = 20000
	dir := b.TempDir()
	s, err := Open(dir)
	if err != nil {
		b.Fatal(err)
	}
	const addr = "alice@example.test"
	root, err := s.MaildirPath(addr)
	if err != nil {
		b.Fatal(err)
	}
	if err := makeMaildir(root); err != nil {
		b.Fatal(err)
	}
	for i := range n {
		msg := fmt.Sprintf("Date: Mon, 02 Jan 2006 15:04:05 +0000\r\n"+
			"From: a@x.test\r\nSubject: message %d\r\n\r\nbody\r\n", i)
		name := fmt.Sprintf("1700000000.M%dP1.host,S=%d:2,S", i, len(msg))
		err := os.WriteFile(filepath.Join(root, "cur", name), []byte(msg), 0o600)
		if err != nil {
			b.Fatal(err)
		}
	}
	open := func() *Folder {
		s, _ := Open(dir)
		a, err := s.Account(addr)
		if err != nil {
			b.Fatal(err)
		}
		f, err := a.Folder("INBOX")
		if err != nil {
			b.Fatal(err)
		}
		return f
	}
	list := func(f *Folder) {
		var msgs []Message
		f.Locked(func(v *View) error {
			for i := range v.Len() {
				msgs = append(msgs, v.At(i))
			}
			return nil
		})
		for _, m := range msgs {
			if _, err := f.ListEntry(m); err != nil {
				b.Fatal(err)
			}
		}
	}
	f := open() // UIDs and the cache made
	list(f)
	if err := f.FlushListCache(); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for range b.N {
		list(open())
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n),
		"ns/msg")
}
