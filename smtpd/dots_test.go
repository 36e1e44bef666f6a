package smtpd

import (
	"bufio"
	"bytes"
	"io"
	"log"
	"net"
	"testing"

	"github.com/emersion/go-smtp"
)

// unstuff is a model of go-smtp v0.26.0's DATA reader, which
// TestDotReader holds to the real one: it returns what reaches
// Session.Data from the body bytes in (those after the DATA line), the
// length of in up to the end of data (-1 when it does not end), and
// whether a dot and a CR were dropped before a byte other than LF.
func unstuff(in []byte) (out []byte, end int, dropped bool) {
	const (
		begin = iota // at the start of a line
		dot          // after a dot there
		dotCR        // after the dot and a CR, both dropped
		cr           // after a CR
		mid          // in the middle of a line
	)
	st := begin
	for i, c := range in {
		switch st {
		case begin:
			if c == '.' {
				st = dot
				continue
			}
			st = mid
			if c == '\r' {
				st = cr
			}
		case dot:
			if c == '\r' {
				st = dotCR
				continue
			}
			st = mid
		case dotCR:
			if c == '\n' {
				return out, i + 1, dropped
			}
			st, dropped = mid, true
		case cr:
			st = mid
			if c == '\n' {
				st = begin
			}
		case mid:
			if c == '\r' {
				st = cr
			}
		}
		out = append(out, c)
	}
	return out, -1, dropped
}

// dotReaderCases are bodies around a dot; dataThroughGoSMTP ends those
// that do not end by themselves.
var dotReaderCases = []string{
	"a\r\n.\rX\r\n.\r\n",
	".\rX\r\n.\r\n",
	"a\r\n.\r\r\n.\r\n",
	"a\r\n.\r\r\n.\r\nb\r\n.\r\n",
	"a\r\n..\rX\r\n.\r\n",
	"a\r\n.X\r\n.\r\n",
	"a\r\n.\n\r\n.\r\n",
	"a\n.\r\n\r\n.\r\n",
	"a\r.\r\n\r\n.\r\n",
	"a\r\r\n.\rX\r\n.\r\n",
	".\r\n",
}

// TestDotReader pins what go-smtp's DATA reader passes on, through a
// bare go-smtp server: the model unstuff must agree with it, since
// FuzzDotGuard relies on the model. A dot and a CR at the start of a
// line vanish ("a\r\n.\rX" arrives as "a\r\nX"), which is why dotGuard
// exists; should go-smtp change this, the test says so.
func TestDotReader(t *testing.T) {
	for _, body := range dotReaderCases {
		got := dataThroughGoSMTP(t, body)
		if _, end, _ := unstuff([]byte(body)); end < 0 {
			body += "\r\n.\r\n"
		}
		want, _, _ := unstuff([]byte(body))
		if got != string(want) {
			t.Errorf("go-smtp passes %q on as %q; the model says %q",
				body, got, want)
		}
	}
	if got := dataThroughGoSMTP(t, "a\r\n.\rX\r\n.\r\n"); got != "a\r\nX\r\n" {
		t.Errorf("go-smtp no longer drops \".\\r\": %q; dotGuard may "+
			"be unneeded", got)
	}
}

// dataThroughGoSMTP sends body after DATA to a bare go-smtp server on
// loopback and returns what its Session.Data read.
func dataThroughGoSMTP(t *testing.T, body string) string {
	t.Helper()
	got := make(chan string, 1)
	srv := smtp.NewServer(captureBackend{got})
	srv.Domain = "probe.test.invalid"
	srv.ErrorLog = log.New(io.Discard, "", 0)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(l)
	defer srv.Close()
	c, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	d := &dialogue{t: t, c: c, r: bufio.NewReader(c)}
	d.expect("220 ")
	d.cmd("HELO client.test", "250 ")
	d.cmd("MAIL FROM:<s@elsewhere.test>", "250 ")
	d.cmd("RCPT TO:<r@elsewhere.test>", "250 ")
	d.cmd("DATA", "354 ")
	if _, end, _ := unstuff([]byte(body)); end < 0 {
		body += "\r\n.\r\n"
	}
	d.write(body)
	d.expect("250 ")
	return <-got
}

// captureBackend is a go-smtp backend whose sessions send the body
// they read to a channel.
type captureBackend struct{ got chan string }

func (b captureBackend) NewSession(*smtp.Conn) (smtp.Session, error) {
	return captureSession(b), nil
}

type captureSession struct{ got chan string }

func (captureSession) Mail(string, *smtp.MailOptions) error { return nil }
func (captureSession) Rcpt(string, *smtp.RcptOptions) error { return nil }
func (captureSession) Reset()                               {}
func (captureSession) Logout() error                        { return nil }

func (s captureSession) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	s.got <- string(b)
	return err
}

// TestDotGuard pins the marks dotGuard makes in a body, the stream cut
// anywhere, and that it leaves alone what follows the end of data.
func TestDotGuard(t *testing.T) {
	tests := []struct{ in, want string }{
		{"a\r\n.\rX\r\n", "a\r\n.\r\r\r\n"},
		{"a\r\n.\r\r\n", "a\r\n.\r\r "},
		{"a\r\n.\rX\nY", "a\r\n.\r\r Y"},
		{".\rX", ".\r\r"},
		{"a\r\n.\r.\r\n", "a\r\n.\r\r\r\n"},
		{"a\r\n.\r\r\n.\r\nb", "a\r\n.\r\r .\r\nb"},
		{"a\r\n..\rX", "a\r\n..\rX"},
		{"a\r\n.X\r\n", "a\r\n.X\r\n"},
		{"a.\rX", "a.\rX"},
		{"a\r\r\n.\rX", "a\r\r\n.\rX"},
		{"ordinary\r\n..stuffed\r\n.\r\n", "ordinary\r\n..stuffed\r\n.\r\n"},
		// After the end: commands and BDAT chunks pass untouched.
		{"a\r\n.\r\nBDAT 4\r\nb\r\n.\rBDAT 3 LAST\r\n\nc",
			"a\r\n.\r\nBDAT 4\r\nb\r\n.\rBDAT 3 LAST\r\n\nc"},
		{".\r\n.\rX", ".\r\n.\rX"},
	}
	for _, tt := range tests {
		for _, cut := range []int{0, 1, 2, 3} {
			var g dotGuard
			g.arm()
			got := scanPieces(&g, tt.in, cut)
			if got != tt.want {
				t.Errorf("scan(%q) in pieces of %d = %q, want %q",
					tt.in, cut, got, tt.want)
			}
		}
	}
	var idle dotGuard // never armed: no DATA body
	if got := scanPieces(&idle, "a\r\n.\rX", 0); got != "a\r\n.\rX" {
		t.Errorf("an unarmed guard marked %q", got)
	}
	var g dotGuard // disarmed by the reply to the body
	g.arm()
	scanPieces(&g, "a\r\n", 0)
	g.disarm()
	if got := scanPieces(&g, ".\rX", 0); got != ".\rX" {
		t.Errorf("a disarmed guard marked %q", got)
	}
}

// scanPieces runs g over s in pieces of n bytes and returns the result.
func scanPieces(g *dotGuard, s string, n int) string {
	var out []byte
	for _, p := range pieces(s, n) {
		b := []byte(p)
		g.scan(b)
		out = append(out, b...)
	}
	return string(out)
}

// FuzzDotGuard checks dotGuard against the model of go-smtp's reader,
// for any body and any cut of the stream: data ends where it would
// have and nothing after the end changes; a body of which go-smtp
// would drop a dot and CR is refused by bodyChecker; and a body
// bodyChecker would take passes as it is.
func FuzzDotGuard(f *testing.F) {
	for _, c := range dotReaderCases {
		f.Add([]byte(c), uint(3))
	}
	f.Add([]byte("hi\r\n.\r\r\n.\r\n"), uint(5))
	f.Fuzz(func(t *testing.T, in []byte, cut uint) {
		var g dotGuard
		g.arm()
		marked := bytes.Clone(in)
		k := int(cut % uint(len(in)+1))
		g.scan(marked[:k])
		g.scan(marked[k:])

		body, end, dropped := unstuff(in)
		got, gotEnd, _ := unstuff(marked)
		if gotEnd != end {
			t.Fatalf("data ends at %d, was %d: %q → %q", gotEnd, end,
				in, marked)
		}
		if end >= 0 && !bytes.Equal(in[end:], marked[end:]) {
			t.Fatalf("bytes after the end changed: %q → %q", in,
				marked)
		}
		if dropped && checkBody(got) == nil {
			t.Fatalf("a dropped dot and CR pass: %q → %q", in, marked)
		}
		if !dropped && checkBody(body) == nil &&
			!bytes.Equal(in, marked) {
			t.Fatalf("acceptable body changed: %q → %q", in, marked)
		}
	})
}

// checkBody runs bodyChecker over a whole body.
func checkBody(b []byte) *smtp.SMTPError {
	var bc bodyChecker
	if r, _ := bc.check(b); r != nil {
		return r
	}
	r, _ := bc.end()
	return r
}
