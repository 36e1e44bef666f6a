package imapd

import (
	"bytes"
	"strings"
	"testing"
)

// guardRead returns what a guardConn passes on of in, read k bytes at a
// time from a client that sends in and never hears from the server.
func guardRead(in []byte, k int) []byte {
	g := &guardConn{Conn: &fakeConn{in: in, k: k}}
	var out bytes.Buffer
	buf := make([]byte, 7)
	for {
		n, err := g.Read(buf)
		out.Write(buf[:n])
		if err != nil {
			return out.Bytes()
		}
	}
}

// FuzzGuardFilter: the guard's output is independent of how the
// client's bytes are segmented, never longer than the input, and
// nothing after an oversized non-synchronising literal's marker line
// gets through.
func FuzzGuardFilter(f *testing.F) {
	f.Add([]byte("\r\na1 NOOP\r\n\n\r\na2 LOGOUT\r\n"), uint8(1))
	f.Add([]byte("a1 APPEND INBOX {3+}\r\n\r\n\r\r\n\r\n"), uint8(2))
	f.Add([]byte("a1 APPEND INBOX {5000+}\r\nx1 CREATE y\r\n"), uint8(3))
	f.Add([]byte("a1 SEARCH TEXT {99999999999999999999+}\r\nx"), uint8(5))
	f.Add([]byte("a1 APPEND INBOX {4}\r\nabcd\r\n"), uint8(4))
	f.Add([]byte("a1 STARTTLS\r\n\r\n\x16\x03"), uint8(6))
	f.Fuzz(func(t *testing.T, in []byte, k uint8) {
		whole := guardRead(in, len(in)+1)
		parts := guardRead(in, int(k%16)+1)
		if !bytes.Equal(whole, parts) {
			t.Fatalf("segments of %d: %q, whole: %q", k%16+1, parts, whole)
		}
		if len(whole) > len(in) {
			t.Fatalf("output %q longer than input %q", whole, in)
		}
		if i := strings.Index(string(whole), "{5000+}\r\n"); i >= 0 &&
			!strings.Contains(string(whole[:i]), "{") &&
			len(whole) > i+len("{5000+}\r\n") {
			t.Fatalf("bytes after an oversized literal marker: %q", whole)
		}
	})
}
