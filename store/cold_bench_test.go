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
		// The list fields of real mail run to some 700 bytes.
		msg := fmt.Sprintf("Received: from a.test by b.test; Mon, 2 Jan 2006\r\n"+
			"Date: Mon, 02 Jan 2006 15:04:05 +0000\r\n"+
			"From: \"Some Sender\" <sender.name@example.org>\r\n"+
			"To: first@example.com, \"Second Person\" <second@example.com>\r\n"+
			"Subject: =?utf-8?q?message_number_%d_with_an_encoded_subject?=\r\n"+
			"Message-ID: <%d.1136214245.example.org@mail.example.org>\r\n"+
			"References: <a1.b2.c3@example.org> <d4.e5.f6@example.org>\r\n"+
			" <g7.h8.i9@example.org> <j10.k11.l12@example.org>\r\n"+
			"In-Reply-To: <j10.k11.l12@example.org>\r\n"+
			"Content-Type: multipart/alternative;\r\n"+
			" boundary=\"----=_NextPart_000_0001_01C2A9A6.12345678\"\r\n"+
			"List-Post: <mailto:list@lists.example.org>\r\n"+
			"Reply-To: list@lists.example.org\r\nX-Priority: 3\r\n"+
			"\r\nbody\r\n", i, i)
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
