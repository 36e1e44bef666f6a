package smtpd

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stratamail/continuity/internal/testcert"
)

// TestSmuggling sends the SMTP smuggling payloads: a message whose body
// holds a second transaction behind an end-of-data marker that is not
// <CRLF>.<CRLF>. DATA must end only at the real marker, the message must
// be refused whole with a 5xx, nothing stored or queued, and the
// smuggled commands never run.
func TestSmuggling(t *testing.T) {
	smuggled := "MAIL FROM:<admin@example.test>\r\n" +
		"RCPT TO:<bob@example.test>\r\n" +
		"DATA\r\n" +
		"From: admin@example.test\r\nSubject: smuggled\r\n\r\nevil\r\n"
	tests := []struct{ name, end string }{
		{"LF.LF", "\n.\n"},
		{"CR.CR", "\r.\r"},
		{"CRLF.LF", "\r\n.\n"},
		{"LF.CRLF", "\n.\r\n"},
		{"CR.CRLF", "\r.\r\n"},
		{"CRLF.CR", "\r\n.\r"},
		{"CRLF.CRCRLF", "\r\n.\r\r\n"},
		{"CRLF.CRCR", "\r\n.\r\r"},
	}
	for _, tt := range tests {
		forTransports(t, tt.name, func(t *testing.T, e *env,
			d *dialogue) {
			d.cmd("MAIL FROM:<s@elsewhere.test>", "250 ")
			d.cmd("RCPT TO:<alice@example.test>", "250 ")
			d.cmd("DATA", "354 ")
			d.write("Subject: hello\r\n\r\nhello" + tt.end + smuggled)
			got := d.cmd(".", "5")
			if !strings.HasPrefix(got, "550 5.6.0 ") &&
				!strings.HasPrefix(got, "554 ") {
				t.Errorf("reply %q, want 550 5.6.0", got)
			}
			// One reply for the whole: the next command is in step.
			d.cmd("NOOP", "250 ")
			d.cmd("QUIT", "221 ")
			e.checkNothingStored()
		})
	}
}

// TestSmugglingDotCR covers <CRLF>.<CR> followed by anything but LF,
// which go-smtp's dot reader would drop before our checks see it
// (TestDotReader): dotGuard marks it, and the message is refused like
// any other with a bare CR, nothing stored, the dialogue in step.
func TestSmugglingDotCR(t *testing.T) {
	tests := []struct{ name, body string }{
		{"inside", "Subject: hello\r\n\r\nhello\r\n.\rMAIL FROM:" +
			"<admin@example.test>\r\nRCPT TO:<bob@example.test>\r\n" +
			"DATA\r\nevil\r\n"},
		{"first", ".\rMAIL FROM:<admin@example.test>\r\n"},
		{"CR CR LF", "Subject: x\r\n\r\nhi\r\n.\r\r\n.\r\nMAIL FROM:" +
			"<admin@example.test>\r\n"},
		{"after a dot line", "Subject: x\r\n\r\n..\r\n.\rX\r\n"},
	}
	for _, tt := range tests {
		forTransports(t, tt.name, func(t *testing.T, e *env,
			d *dialogue) {
			d.cmd("MAIL FROM:<s@elsewhere.test>", "250 ")
			d.cmd("RCPT TO:<alice@example.test>", "250 ")
			d.cmd("DATA", "354 ")
			d.write(tt.body)
			d.cmd(".", "550 5.6.0 ")
			d.cmd("NOOP", "250 ")
			d.cmd("QUIT", "221 ")
			e.checkNothingStored()
		})
	}
}

// TestSmugglingBeforeData pipelines the smuggling body behind DATA,
// without waiting for the 354: it must be refused as when sent after.
func TestSmugglingBeforeData(t *testing.T) {
	forTransports(t, "pipelined", func(t *testing.T, e *env, d *dialogue) {
		d.write("MAIL FROM:<s@elsewhere.test>\r\n" +
			"RCPT TO:<alice@example.test>\r\nDATA\r\n" +
			"Subject: x\r\n\r\nhi\r\n.\rMAIL FROM:<admin@example.test>" +
			"\r\nRCPT TO:<bob@example.test>\r\n.\r\n")
		d.expect("250 ")
		d.expect("250 ")
		d.expect("354 ")
		d.expect("550 5.6.0 ")
		d.cmd("NOOP", "250 ")
		e.checkNothingStored()
	})
}

// forTransports runs f as a subtest twice: in clear text, and after
// STARTTLS, where our layers must see the same plain text (tlsup.go).
// d has said EHLO.
func forTransports(t *testing.T, name string,
	f func(t *testing.T, e *env, d *dialogue)) {
	t.Run(name, func(t *testing.T) {
		e := newEnv(t)
		d := e.dial()
		d.cmd("EHLO client.test", "250 ")
		f(t, e, d)
	})
	t.Run(name+"/STARTTLS", func(t *testing.T) {
		e := newEnv(t, withTLS(t))
		d := e.dial().startTLS()
		d.cmd("EHLO client.test", "250 ")
		f(t, e, d)
	})
}

// withTLS gives the server a certificate, so that it offers STARTTLS.
func withTLS(t testing.TB) func(*Server) {
	cert, _, _ := testcert.New(t, "mx.test.invalid")
	return func(s *Server) {
		s.opts.TLSConfig = &tls.Config{
			Certificates: []tls.Certificate{cert}}
	}
}

// startTLS says EHLO and STARTTLS, does the handshake, and returns the
// dialogue in TLS, where EHLO must be said again.
func (d *dialogue) startTLS() *dialogue {
	d.t.Helper()
	d.cmd("EHLO client.test", "250 ")
	d.cmd("STARTTLS", "220 ")
	return d.handshake()
}

// handshake does the client's TLS handshake on d's connection, after a
// 220 to STARTTLS, and returns the dialogue in TLS.
func (d *dialogue) handshake() *dialogue {
	d.t.Helper()
	tc := tls.Client(d.c, &tls.Config{InsecureSkipVerify: true})
	if err := tc.Handshake(); err != nil {
		d.t.Fatal(err)
	}
	return &dialogue{t: d.t, c: tc, r: bufio.NewReader(tc)}
}

// TestSTARTTLSPipelining sends commands in clear text behind STARTTLS
// in the same packet (CVE-2011-0411's attack), a whole transaction
// among them: they must be dropped, not run inside the TLS session nor
// before it, and the session must start afresh, with EHLO required
// again.
func TestSTARTTLSPipelining(t *testing.T) {
	tests := []struct{ name, stls string }{
		{"STARTTLS", "STARTTLS\r\n"},
		{"lower case, LF", "starttls\n"},
		{"trailing text", "STARTTLS now please\r\n"},
		// go-smtp upper-cases with strings.ToUpper: U+017F is S.
		{"long s", "\u017ftarttls\r\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, withTLS(t))
			d := e.dial()
			d.cmd("EHLO client.test", "250 ")
			d.write(tt.stls + "MAIL FROM:<injected@evil.test>\r\n" +
				"RCPT TO:<alice@example.test>\r\nDATA\r\n" +
				"Subject: injected\r\n\r\nevil\r\n.\r\n")
			d.expect("220 ")
			sd := d.handshake()
			// No banner after STARTTLS; no MAIL ran, and EHLO is due.
			sd.cmd("RCPT TO:<alice@example.test>", "5")
			sd.cmd("MAIL FROM:<s@elsewhere.test>", "502 5.5.1 Please introduce")
			sd.cmd("EHLO client.test", "250 ")
			sd.cmd("MAIL FROM:<s@elsewhere.test>", "250 ")
			sd.cmd("RCPT TO:<alice@example.test>", "250 ")
			sd.cmd("DATA", "354 ")
			sd.cmd("Subject: x\r\n\r\nover TLS\r\n.", "250 ")
			sd.cmd("QUIT", "221 ")
			if strings.Contains(e.logs.String(), "injected") {
				t.Errorf("the injected commands reached a session:\n%s",
					e.logs.String())
			}
			if n := len(e.newFiles("alice@example.test")); n != 1 {
				t.Errorf("alice has %d messages, want 1", n)
			}
		})
	}
}

// TestSTARTTLSAfterChunk pipelines the injection behind a BDAT chunk
// that does not end in LF: the chunk must not hide the STARTTLS line.
func TestSTARTTLSAfterChunk(t *testing.T) {
	e := newEnv(t, withTLS(t))
	d := e.dial()
	d.cmd("EHLO client.test", "250 ")
	d.cmd("MAIL FROM:<s@elsewhere.test>", "250 ")
	d.cmd("RCPT TO:<alice@example.test>", "250 ")
	d.write("BDAT 1\r\nX")
	d.expect("250 ")
	body := "Subject: injected\r\n\r\nevil\r\n"
	d.write("STARTTLS\r\nRCPT TO:<bob@example.test>\r\n" +
		fmt.Sprintf("BDAT %d LAST\r\n%s", len(body), body))
	d.expect("220 ")
	sd := d.handshake()
	sd.cmd("EHLO client.test", "250 ")
	sd.cmd("QUIT", "221 ")
	e.stop()
	if n := len(e.newFiles("bob@example.test")) +
		len(e.newFiles("alice@example.test")); n != 0 {
		t.Errorf("%d messages stored", n)
	}
	if strings.Contains(e.logs.String(), "bob@") {
		t.Errorf("the injected RCPT ran:\n%s", e.logs.String())
	}
}

// TestSTARTTLSAfterBodyLine: a body line "BDAT n" (or a SASL response
// that looks like one) is not a command: it must not make the line
// follower skip n bytes and miss the STARTTLS behind the body.
func TestSTARTTLSAfterBodyLine(t *testing.T) {
	body := "Subject: injected\r\n\r\nevil\r\n"
	inject := "STARTTLS\r\nMAIL FROM:<a@elsewhere.test>\r\n" +
		"RCPT TO:<bob@example.test>\r\n" +
		fmt.Sprintf("BDAT %d LAST\r\n%s", len(body), body)
	e := newEnv(t, withTLS(t))
	d := e.dial()
	d.cmd("EHLO client.test", "250 ")
	d.cmd("MAIL FROM:<s@elsewhere.test>", "250 ")
	d.cmd("RCPT TO:<alice@example.test>", "250 ")
	d.cmd("DATA", "354 ")
	d.write(fmt.Sprintf("Subject: decoy\r\n\r\nBDAT %d\r\n.\r\n",
		len(inject)) + inject)
	d.expect("250 ")
	d.expect("220 ")
	sd := d.handshake()
	sd.cmd("EHLO client.test", "250 ")
	sd.cmd("QUIT", "221 ")
	e.stop()
	if n := len(e.newFiles("bob@example.test")); n != 0 {
		t.Errorf("the injected transaction stored %d messages", n)
	}
}

// TestTimeoutEndsStream: after a read times out where go-smtp then goes
// back to commands without an answer the line follower could read
// (draining a refused body), the connection ends: a STARTTLS and a
// transaction sent after the stall never run.
func TestTimeoutEndsStream(t *testing.T) {
	e := newEnv(t, withTLS(t), func(s *Server) {
		s.tune.dataReadTimeout = 300 * time.Millisecond
	})
	d := e.dial()
	d.cmd("EHLO client.test", "250 ")
	d.cmd("MAIL FROM:<s@elsewhere.test>", "250 ")
	d.cmd("RCPT TO:<alice@example.test>", "250 ")
	d.cmd("DATA", "354 ")
	// A bare LF early: the body is refused before its end, and
	// go-smtp reads on for the end, which does not come.
	d.write("Subject: x\r\n\r\nbare\nLF\r\n" + strings.Repeat("x", 40<<10))
	d.expect("5")
	d.write("STARTTLS\r\nMAIL FROM:<a@elsewhere.test>\r\n" +
		"RCPT TO:<bob@example.test>\r\nDATA\r\nSubject: injected\r\n" +
		"\r\nevil\r\n.\r\n")
	d.c.SetReadDeadline(time.Now().Add(5 * time.Second))
	rest, _ := io.ReadAll(d.r)
	if bytes.Contains(rest, []byte("220 ")) || bytes.Contains(rest,
		[]byte("354 ")) {
		t.Errorf("the stream went on after the timeout: %q", rest)
	}
	e.stop()
	if n := len(e.newFiles("bob@example.test")); n != 0 {
		t.Errorf("the injected transaction stored %d messages", n)
	}
}

// TestAfterSTARTTLS checks the session that follows STARTTLS: no
// STARTTLS offered or taken again, go-smtp's refusals still read by our
// tap, TLS recorded in Received, and a body line that starts with
// STARTTLS stored as sent.
func TestAfterSTARTTLS(t *testing.T) {
	e := newEnv(t, withTLS(t))
	d := e.dial().startTLS()
	if got := d.cmd("EHLO client.test", "250 "); strings.Contains(got,
		"STARTTLS") {
		t.Errorf("STARTTLS offered in TLS:\n%s", got)
	}
	d.cmd("STARTTLS", "502 5.5.1 ")
	d.cmd("FROB", "500 5.5.2 ")
	d.cmd("MAIL FROM:<s@elsewhere.test>", "250 ")
	d.cmd("RCPT TO:<alice@example.test>", "250 ")
	d.cmd("DATA", "354 ")
	body := "Subject: tls\r\n\r\nSTARTTLS is a line of the body\r\n" +
		"starttls\r\nMAIL FROM:<x@y.test>\r\n"
	d.cmd(body+".", "250 ")
	d.cmd("QUIT", "221 ")
	refused := e.logs.lines(`msg="command refused"`)
	if len(refused) != 2 || !strings.Contains(refused[1], "by=go-smtp") ||
		!strings.Contains(refused[1], `code="500 5.5.2"`) {
		t.Errorf("refusals logged: %q", refused)
	}
	files := e.newFiles("alice@example.test")
	if len(files) != 1 {
		t.Fatalf("alice has %d messages, want 1", len(files))
	}
	data, err := os.ReadFile(files[0])
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasSuffix(string(data), "\r\n\r\n"+body[len(
		"Subject: tls\r\n\r\n"):]) || !strings.Contains(string(data),
		"with ESMTPS") {
		t.Errorf("stored:\n%q", data)
	}
}

// TestSTARTTLSHandshakeFails sends clear text where the TLS handshake
// should be: the connection ends, and is forgotten (its slot in the
// per-address count is freed).
func TestSTARTTLSHandshakeFails(t *testing.T) {
	e := newEnv(t, withTLS(t))
	d := e.dial()
	d.cmd("EHLO client.test", "250 ")
	d.cmd("STARTTLS", "220 ")
	d.write("MAIL FROM:<s@elsewhere.test>\r\n")
	d.c.SetReadDeadline(time.Now().Add(10 * time.Second))
	if b, err := io.ReadAll(d.r); err != nil || len(b) > 0 &&
		!bytes.HasPrefix(b, []byte{0x15}) { // at most a TLS alert
		t.Errorf("after a failed handshake: %q, %v", b, err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		e.srv.mu.Lock()
		n := len(e.srv.conns)
		e.srv.mu.Unlock()
		if n == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d connections still tracked", n)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if !strings.Contains(e.logs.String(), "STARTTLS handshake failed") {
		t.Errorf("no log line:\n%s", e.logs.String())
	}
}

// TestLineCut checks where the client's stream is cut, however it is
// split into reads: after each command line that go-smtp must answer
// first (STARTTLS, MAIL, DATA, AUTH, a SASL response), and nowhere
// else; lines of a body or a BDAT chunk are never commands.
func TestLineCut(t *testing.T) {
	tests := []struct {
		in   string
		cuts []int // the ends of the lines go-smtp must answer first
	}{
		{"EHLO x\r\nSTARTTLS\r\nMAIL\r\n", []int{18, 24}},
		{"starttls\nSTARTTLSx\nSTARTTL\n", []int{9, 19}},
		{"A STARTTLS\r\n\r\nSTARTTLS", nil},
		{"STARTTLS", nil},
		{"\nSTARTTLS\r\r\nx", []int{12}},
		{"STARTTLS\r\nSTARTTLS\r\n", []int{10, 20}},
		{"MAIL FROM:<a>\r\nRCPT TO:<b>\r\nDATA\r\nx\r\n.\r\n",
			[]int{15, 34}},
		{"mail\ndata\nquit\n", []int{5, 10}},
		// U+017F upper-cases to S: go-smtp reads STARTTLS.
		{"\u017ftarttls\r\nRCPT TO:<b@x>\r\n", []int{11}},
		// A chunk not ending in LF does not hide the next line.
		{"BDAT 1\r\nXSTARTTLS\r\nRCPT\r\n", []int{19}},
		{"BDAT 9 LAST\r\nSTARTTLS\nSTARTTLS\n", []int{31}},
		// go-smtp refuses these before a chunk: lines go on.
		{"BDAT x\r\nSTARTTLS\r\n", []int{18}},
		{"BDAT 1 MORE\r\nSTARTTLS\r\n", []int{23}},
		// A body (354 to DATA here) is no commands, up to its end.
		{"DATA\r\nBDAT 5\r\nSTARTTLS\r\n.\r\nSTARTTLS\r\nx",
			[]int{6, 37}},
		// Only <CRLF>.<CRLF> ends it, as go-smtp's reader has it.
		{"DATA\r\n.\rSTARTTLS\r\n\n.\n\r\n.\r\nMAIL\r\nx",
			[]int{6, 32}},
		// A SASL response (334 to AUTH here, 235 to it) is no command.
		{"AUTH LOGIN\r\nBDAT 5\r\nSTARTTLS\r\n", []int{12, 20, 30}},
	}
	for _, tt := range tests {
		want := map[int]bool{}
		for _, c := range tt.cuts {
			want[c] = true
		}
		for split := 1; split <= len(tt.in); split++ {
			var l lineCut
			ends := map[int]bool{}
			for off := 0; off < len(tt.in); {
				l.resume(answer(&l))
				p := []byte(tt.in[off:min(off+split, len(tt.in))])
				k := l.next(p)
				if k < len(p) && !want[off+k] {
					t.Errorf("%q in reads of %d: cut at %d", tt.in,
						split, off+k)
				}
				off += k
				ends[off] = true
			}
			for _, c := range tt.cuts {
				if !ends[c] {
					t.Errorf("%q in reads of %d: no cut at %d", tt.in,
						split, c)
				}
			}
		}
	}
}

// answer is what go-smtp says, in these tests, to the line lineCut
// waits on: 354 to DATA, 334 to AUTH, 235 to a SASL response.
func answer(l *lineCut) int {
	switch {
	case l.wait == waitData:
		return 354
	case l.wait == waitSASL && l.mode == modeSASL:
		return 235
	case l.wait == waitSASL:
		return 334
	}
	return 250
}

// FuzzLineCut checks lineCut against a plain model of go-smtp's
// reading, on any stream split into reads of any size, with 354 to
// every DATA (or none) and 334 to every AUTH and 235 to its one SASL
// response: a cut falls at the end of every command line that go-smtp
// takes for STARTTLS (strings.ToUpper) or that starts with MAIL, DATA
// or AUTH, and of every SASL response, and nowhere else; bodies and
// BDAT chunks are skipped as go-smtp reads them; no byte is lost.
func FuzzLineCut(f *testing.F) {
	f.Add("EHLO x\r\nMAIL FROM:<a> SIZE=99999999999\r\nDATA\r\n", 3, true)
	f.Add("starttls\nSTARTTL\nmail\r\n\r\n", 1, false)
	f.Add("BDAT 1\r\nXSTARTTLS\r\nBDAT 3 LAST\r\nab\nDATA\r\n", 2, true)
	f.Add("\u017ftarttls\r\nRCPT TO:<b@x>\r\n", 5, false)
	f.Add("DATA\r\nBDAT 9\r\n.\r\nSTARTTLS\r\nAUTH LOGIN\r\nBDAT 1\r\nx\r\n",
		4, true)
	f.Fuzz(func(t *testing.T, in string, split int, dataOK bool) {
		if split <= 0 || split > 1<<16 {
			return
		}
		want := map[int]bool{}
		body, sasl := false, false
		for i := 0; i < len(in); {
			if body {
				s := dotBegin
				for i < len(in) && s != dotEnd {
					s = nextDotState(s, in[i])
					i++
				}
				body = false
				continue
			}
			j := strings.IndexByte(in[i:], '\n')
			if j < 0 {
				break
			}
			line, end := in[i:i+j+1], i+j+1
			i = end
			if sasl {
				want[end], sasl = true, false
				continue
			}
			w := ""
			if len(line) >= 4 {
				w = strings.ToUpper(line[:4])
			}
			switch {
			case strings.HasPrefix(strings.ToUpper(line), "STARTTLS"),
				w == "MAIL":
				want[end] = true
			case w == "DATA":
				want[end], body = true, dataOK
			case w == "AUTH":
				want[end], sasl = true, true
			}
			s := strings.TrimRight(line, "\r\n")
			if w != "BDAT" || len(s) < 6 || s[4] != ' ' {
				continue
			}
			args := strings.Fields(s[5:])
			if len(args) == 1 || len(args) == 2 &&
				strings.EqualFold(args[1], "LAST") {
				if n, err := strconv.ParseUint(args[0], 10, 32); err == nil {
					i += int(min(n, uint64(len(in))))
				}
			}
		}
		var l lineCut
		var got []byte
		ends := map[int]bool{}
		for off := 0; off < len(in); {
			code := answer(&l)
			if code == 354 && !dataOK {
				code = 554
			}
			l.resume(code)
			p := []byte(in[off:min(off+split, len(in))])
			k := l.next(p)
			if k < len(p) && !want[off+k] || k == 0 {
				t.Fatalf("cut at %d (read of %d at %d)", off+k, len(p), off)
			}
			got = append(got, p[:k]...)
			off += k
			ends[off] = true
		}
		for c := range want {
			if !ends[c] {
				t.Fatalf("no cut at %d", c)
			}
		}
		if string(got) != in {
			t.Fatalf("stream changed")
		}
	})
}
