package imapd

import (
	"bytes"
	"net"
	"strings"
	"testing"
)

// guardRead returns what a guardConn passes on of in, read k bytes at a
// time from a client that sends in and never hears from the server.
func guardRead(in []byte, k int) []byte {
	g := &guardConn{Conn: &fakeConn{in: in, k: k}, marker: testMarker}
	var out bytes.Buffer
	buf := make([]byte, 7)
	for {
		before := g.injected
		n, err := g.Read(buf)
		if g.injected != before {
			// A refused literal's line ended for imapserver: when
			// depends on when it reads, which this client ignores.
			continue
		}
		out.Write(buf[:n])
		if err != nil {
			return out.Bytes()
		}
	}
}

// testMarker is the SORT marker of the fuzzed guards.
const testMarker = "X-StrataMail-Sort-test"

// FuzzGuardFilter: the guard's output is independent of how the
// client's bytes are segmented (line ends made for refused literals
// aside), longer than the input only by SORT rewrites, and
// nothing after an oversized non-synchronising literal's marker line
// gets through.
func FuzzGuardFilter(f *testing.F) {
	f.Add([]byte("\r\na1 NOOP\r\n\n\r\na2 LOGOUT\r\n"), uint8(1))
	f.Add([]byte("a1 APPEND INBOX {3+}\r\n\r\n\r\r\n\r\n"), uint8(2))
	f.Add([]byte("a1 APPEND INBOX {5000+}\r\nx1 CREATE y\r\n"), uint8(3))
	f.Add([]byte("a1 SEARCH TEXT {99999999999999999999+}\r\nx"), uint8(5))
	f.Add([]byte("a1 APPEND INBOX {4}\r\nabcd\r\n"), uint8(4))
	f.Add([]byte("a1 STARTTLS\r\n\r\n\x16\x03"), uint8(6))
	f.Add([]byte("a1 UID SORT (REVERSE DATE) UTF-8 ALL\r\n"), uint8(7))
	f.Add([]byte("a1 LOGIN {5000}\r\na2 NOOP\r\n"), uint8(2))
	f.Add([]byte("a1 SORT (DATE) UTF-8 SUBJECT {3}\r\nabc\r\n"), uint8(3))
	f.Fuzz(func(t *testing.T, in []byte, k uint8) {
		whole := guardRead(in, len(in)+1)
		parts := guardRead(in, int(k%16)+1)
		if !bytes.Equal(whole, parts) {
			t.Fatalf("segments of %d: %q, whole: %q", k%16+1, parts, whole)
		}
		// A SORT rewrite adds under 64 bytes.
		if len(whole) > len(in)+64*bytes.Count(whole, []byte(testMarker)) {
			t.Fatalf("output %q longer than input %q", whole, in)
		}
		if i := strings.Index(string(whole), "{5000+}\r\n"); i >= 0 &&
			!strings.Contains(string(whole[:i]), "{") &&
			len(whole) > i+len("{5000+}\r\n") {
			t.Fatalf("bytes after an oversized literal marker: %q", whole)
		}
	})
}

// recConn is a net.Conn recording what is written to it.
type recConn struct {
	net.Conn
	out bytes.Buffer
}

func (r *recConn) Write(p []byte) (int, error) { return r.out.Write(p) }

// guardWrite returns what a guardConn sends of the server's bytes out,
// written k bytes at a time.
func guardWrite(out []byte, k int, sortNext bool) []byte {
	rc := &recConn{}
	g := &guardConn{Conn: rc, sortNext: sortNext}
	for len(out) > 0 {
		n := min(k, len(out))
		if m, err := g.Write(out[:n]); m != n || err != nil {
			panic("short write")
		}
		out = out[n:]
	}
	return rc.out.Bytes()
}

// FuzzGuardWrite: what the guard sends of the server's lines does not
// depend on how they are written, and it only ever adds " SORT ID" to a
// capability list, turns SEARCH into SORT, or imapserver's SERVERBUG
// into BAD (with no command names known, never the mailbox NO).
func FuzzGuardWrite(f *testing.F) {
	f.Add([]byte("* CAPABILITY IMAP4rev1 IDLE\r\nt1 OK done\r\n"), uint8(1), false)
	f.Add([]byte("* SEARCH 3 1 2\r\nt1 OK UID SEARCH completed\r\n"), uint8(2), true)
	f.Add([]byte("* 1 FETCH (BODY[] {20}\r\n* SEARCH 1\r\n* CAPA\r\n)\r\n"),
		uint8(3), true)
	f.Add([]byte("t1 OK [CAPABILITY IMAP4rev1 X] ok\r\n"), uint8(5), false)
	f.Add([]byte("t1 NO [SERVERBUG] Internal server error\r\n"), uint8(4),
		false)
	f.Fuzz(func(t *testing.T, out []byte, k uint8, sortNext bool) {
		// imapserver ends every line it starts; the guard holds back
		// the start of one until it knows what it is.
		out = append(out, "\r\n"...)
		whole := guardWrite(out, len(out)+1, sortNext)
		parts := guardWrite(out, int(k%16)+1, sortNext)
		if !bytes.Equal(whole, parts) {
			t.Fatalf("segments of %d: %q, whole: %q", k%16+1, parts, whole)
		}
		if norm(whole) != norm(out) || len(whole) > len(out)+8*
			(1+strings.Count(string(out), "\n")) {
			t.Fatalf("%q became %q", out, whole)
		}
	})
}

// norm undoes what the guard may change or add: the capabilities it
// inserts, SEARCH made SORT, imapserver's SERVERBUG made BAD.
func norm(b []byte) string {
	s := string(b)
	for {
		t := strings.ReplaceAll(s, "IMAP4rev1 SORT ID", "IMAP4rev1")
		if t == s {
			break
		}
		s = t
	}
	s = strings.ReplaceAll(s, " SEARCH", " SORT")
	s = strings.ReplaceAll(s, " "+goImapServerBug, " REFUSED\r")
	return strings.ReplaceAll(s, " "+badArgsReply, " REFUSED\r")
}
