package imapd

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// BenchmarkListView is Roundcube's sort of a folder: the Date field of
// every message. "cache" asks for fields the list cache keeps; "files"
// adds one it does not, so every message file is read, as before the
// cache.
func BenchmarkListView(b *testing.B) {
	const n = 3000
	h := start(b, b.TempDir())
	for i := range n {
		h.deliver(testMsg(fmt.Sprintf("message %d", i), "body"))
	}
	for _, bb := range []struct{ name, fields string }{
		{"cache", "DATE"},
		{"files", "DATE X-NOT-CACHED"},
	} {
		b.Run(bb.name, func(b *testing.B) {
			r := h.raw(true)
			r.cmd("SELECT INBOX")
			cmd := "UID FETCH 1:* (UID BODY.PEEK[HEADER.FIELDS (" +
				bb.fields + ")])"
			r.cmd(cmd) // fill the cache
			b.ResetTimer()
			for range b.N {
				if got := len(r.cmd(cmd)); got < n+1 {
					b.Fatalf("%d lines", got)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/
				float64(b.N*n), "ns/msg")
		})
	}
}

// BenchmarkSort is Roundcube's index of a large folder on a server
// with SORT: UID SORT (DATE) of every message, from a warm list cache,
// over a real socket.
func BenchmarkSort(b *testing.B) {
	const n = 100000
	dir := b.TempDir()
	h := start(b, dir)
	root, err := h.st.MaildirPath(alice)
	if err != nil {
		b.Fatal(err)
	}
	for _, sub := range []string{"cur", "new", "tmp"} {
		os.MkdirAll(filepath.Join(root, sub), 0o700)
	}
	for i := range n {
		msg := sortMsg(fmt.Sprintf("u%d@x.test", i%97), "alice@example.com",
			fmt.Sprintf("message %d", i), time.Unix(int64(1e9+i*7919%n*60), 0).
				Format(time.RFC1123Z), 100)
		name := fmt.Sprintf("1700000000.M%dP1.bench,S=%d:2,", i, len(msg))
		err := os.WriteFile(filepath.Join(root, "cur", name), []byte(msg),
			0o600)
		if err != nil {
			b.Fatal(err)
		}
	}
	r := h.raw(true)
	r.cmd("SELECT INBOX")
	r.cmd("UID SORT (DATE) UTF-8 ALL") // fill the cache
	b.ResetTimer()
	for range b.N {
		if l := r.cmd("UID SORT (DATE) UTF-8 ALL"); len(l) != 2 ||
			len(l[0]) < n {
			b.Fatalf("%.100q", l)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n),
		"ns/msg")
}
