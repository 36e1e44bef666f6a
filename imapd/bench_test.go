package imapd

import (
	"fmt"
	"testing"
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
