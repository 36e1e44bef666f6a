package smtpd

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io"
	"strings"
	"testing"
)

// TestGoSMTPRefusals drives the refusals go-smtp gives by itself, before
// or instead of our Session, and checks that each is logged as one line
// and counted in Stats under its reason.
func TestGoSMTPRefusals(t *testing.T) {
	mail := step{"MAIL FROM:<s@elsewhere.test>", "250 "}
	tests := []struct {
		name   string
		steps  []step
		code   string // in the log line
		reason string
	}{
		{"SIZE over the limit", []step{
			{"MAIL FROM:<s@elsewhere.test> SIZE=65537", "552 5.3.4 "}},
			"552 5.3.4", "too_big"},
		{"SIZE too large to parse", []step{
			{"MAIL FROM:<s@elsewhere.test> SIZE=99999999999999999999",
				"552 5.3.4 "}}, "552 5.3.4", "too_big"},
		{"SIZE not a number", []step{
			{"MAIL FROM:<s@elsewhere.test> SIZE=many", "501 5.5.4 "}},
			"501 5.5.4", "bad_command"},
		{"unknown command", []step{{"FROB x", "500 5.5.2 "}},
			"500 5.5.2", "bad_command"},
		{"unknown MAIL parameter", []step{
			{"MAIL FROM:<s@elsewhere.test> FOO=1", "500 5.5.4 "}},
			"500 5.5.4", "bad_command"},
		{"RCPT before MAIL", []step{
			{"RCPT TO:<alice@example.test>", "502 5.5.1 "}},
			"502 5.5.1", "bad_command"},
		{"DATA before RCPT", []step{mail, {"DATA", "502 5.5.1 "}},
			"502 5.5.1", "bad_command"},
		{"BDAT over the limit", []step{mail,
			{"RCPT TO:<alice@example.test>", "250 "},
			{"BDAT 65537 LAST", "552 5.3.4 "}},
			"552 5.3.4", "too_big"},
	}
	for _, tt := range tests {
		forTransports(t, tt.name, func(t *testing.T, e *env,
			d *dialogue) {
			for _, s := range tt.steps {
				d.cmd(s.send, s.want)
			}
			got := e.logs.lines(`msg="command refused"`)
			if len(got) != 1 {
				t.Fatalf("log lines: %q", got)
			}
			for _, want := range []string{"conn=s1",
				"remote=127.0.0.1", `code="` + tt.code + `"`,
				"reason=" + tt.reason, "by=go-smtp"} {
				if !strings.Contains(got[0], want) {
					t.Errorf("log line lacks %s: %s", want, got[0])
				}
			}
			if n := e.srv.Stats().Refused[tt.reason]; n != 1 {
				t.Errorf("refused %s = %d, want 1", tt.reason, n)
			}
		})
	}
}

// TestGoSMTPLongLine: an over-long command line gets go-smtp's 500 and
// the end of the connection, logged and counted as line_too_long.
func TestGoSMTPLongLine(t *testing.T) {
	e := newEnv(t)
	d := e.dial()
	d.cmd("EHLO client.test", "250 ")
	d.cmd("NOOP "+strings.Repeat("x", MaxLineLength), "500 5.4.0 ")
	if _, err := d.r.ReadByte(); err == nil {
		t.Error("connection open after the 500")
	}
	if got := e.logs.lines(`msg="command refused"`,
		"reason=line_too_long"); len(got) != 1 {
		t.Errorf("log lines: %q", e.logs.String())
	}
	if n := e.srv.Stats().Refused["line_too_long"]; n != 1 {
		t.Errorf("refused line_too_long = %d, want 1", n)
	}
}

// TestRefusalLimitCountsGoSMTP: go-smtp's refusals count toward the
// limit of refused commands per connection with ours, and the last one
// is followed by 421 and the end of the connection.
func TestRefusalLimitCountsGoSMTP(t *testing.T) {
	tests := []struct {
		name string
		ours int // refused RCPTs of ours before go-smtp's
	}{
		{"go-smtp's only", 0},
		{"ours first", maxRefusals / 2},
	}
	for _, tt := range tests {
		forTransports(t, tt.name, func(t *testing.T, e *env,
			d *dialogue) {
			if tt.ours > 0 {
				d.cmd("MAIL FROM:<s@elsewhere.test>", "250 ")
				for i := range tt.ours {
					d.cmd(fmt.Sprintf("RCPT TO:<no%d@example.test>",
						i), "550 5.1.1 ")
				}
				d.cmd("RSET", "250 ")
			}
			// RCPT without MAIL: go-smtp's 502, which unlike its
			// syntax errors does not end the connection by itself.
			for i := tt.ours; i < maxRefusals-1; i++ {
				d.cmd("RCPT TO:<alice@example.test>", "502 5.5.1 ")
			}
			d.write("RCPT TO:<alice@example.test>\r\n")
			d.expect("502 5.5.1 ")
			d.expect("421 4.7.0 Too many errors")
			if _, err := d.r.ReadByte(); err != io.EOF {
				t.Errorf("connection open after the 421: %v", err)
			}
			n := e.srv.Stats().Refused["bad_command"]
			if want := uint64(maxRefusals - tt.ours); n != want {
				t.Errorf("refused bad_command = %d, want %d", n, want)
			}
		})
	}
}

// TestReplyTap feeds reply bytes as go-smtp writes them, whole or cut
// anywhere, and checks what the tap makes of each line.
func TestReplyTap(t *testing.T) {
	banner := "220 mx.test.invalid ESMTP Service Ready\r\n"
	tests := []struct {
		name, wire string
		want       []string // "refusal: LINE", "reply", "data" or "tls"
	}{
		{"banner only", banner, nil},
		{"EHLO reply", banner + "250-Hello c\r\n250-PIPELINING\r\n" +
			"250 SIZE 65536\r\n", []string{"reply"}},
		{"ours", banner + replyLine(replyRelayDenied) + "\r\n",
			[]string{"reply"}},
		{"DATA", banner + "354 Go ahead\r\n250 2.0.0 OK: id x\r\n",
			[]string{"data", "reply"}},
		{"go-smtp's", banner + "502 5.5.1 Missing RCPT TO command.\r\n",
			[]string{"refusal: 502 5.5.1 Missing RCPT TO command."}},
		{"temporary", banner + "452 4.5.3 Maximum limit\r\n",
			[]string{"refusal: 452 4.5.3 Maximum limit"}},
		{"STARTTLS", banner + "220 2.0.0 Ready to start TLS\r\n",
			[]string{"tls"}},
		{"a 5xx continuation line", banner + "550-first\r\n" +
			"550 5.0.0 last\r\n", []string{"refusal: 550 5.0.0 last"}},
		{"long line", banner + "500 5.5.2 " +
			strings.Repeat("x", 2*maxReplyLine) + "\r\n",
			[]string{"refusal: 500 5.5.2 " +
				strings.Repeat("x", maxReplyLine-10)}},
	}
	for _, tt := range tests {
		for _, cut := range []int{0, 1, 3, 7} {
			t.Run(fmt.Sprintf("%s/%d", tt.name, cut), func(t *testing.T) {
				var tap replyTap
				var got []string
				f := func(line string, ev tapEvent) {
					switch ev {
					case tapTLS:
						got = append(got, "tls")
					case tapData:
						got = append(got, "data")
					case tapReply:
						got = append(got, "reply")
					case tapRefusal:
						got = append(got, "refusal: "+line)
					}
				}
				for _, p := range pieces(tt.wire, cut) {
					tap.write([]byte(p), f)
				}
				if fmt.Sprint(got) != fmt.Sprint(tt.want) {
					t.Errorf("got %q, want %q", got, tt.want)
				}
			})
		}
	}
}

// pieces cuts s into pieces of n bytes; 0 means one piece.
func pieces(s string, n int) []string {
	if n == 0 {
		return []string{s}
	}
	var out []string
	for len(s) > n {
		out = append(out, s[:n])
		s = s[n:]
	}
	return append(out, s)
}

// TestSplitReply pins how a reply line is split for the log.
func TestSplitReply(t *testing.T) {
	tests := []struct{ line, code, text string }{
		{"500 5.5.2 Syntax errors", "500 5.5.2", "Syntax errors"},
		{"501 Bad command", "501", "Bad command"},
		{"552 5.3.4", "552 5.3.4", ""},
		{"421 4.x.0 odd", "421", "4.x.0 odd"},
	}
	for _, tt := range tests {
		code, text := splitReply(tt.line)
		if code != tt.code || text != tt.text {
			t.Errorf("splitReply(%q) = %q, %q; want %q, %q", tt.line,
				code, text, tt.code, tt.text)
		}
	}
}

// TestAllRepliesListed keeps allReplies complete: every variable of
// replies.go made by reply() must be in it, or a refusal of ours would
// be logged and counted a second time as go-smtp's.
func TestAllRepliesListed(t *testing.T) {
	f, err := parser.ParseFile(token.NewFileSet(), "replies.go", nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	made, listed := map[string]bool{}, map[string]bool{}
	ast.Inspect(f, func(n ast.Node) bool {
		vs, ok := n.(*ast.ValueSpec)
		if !ok || len(vs.Values) != 1 {
			return true
		}
		switch v := vs.Values[0].(type) {
		case *ast.CallExpr:
			if id, ok := v.Fun.(*ast.Ident); ok && id.Name == "reply" {
				made[vs.Names[0].Name] = true
			}
		case *ast.CompositeLit:
			if vs.Names[0].Name == "allReplies" {
				for _, el := range v.Elts {
					listed[el.(*ast.Ident).Name] = true
				}
			}
		}
		return true
	})
	if len(made) == 0 {
		t.Fatal("no replies found in replies.go")
	}
	for name := range made {
		if !listed[name] {
			t.Errorf("%s is missing from allReplies", name)
		}
	}
	if len(listed) != len(allReplies) || len(ownReplyLines()) !=
		len(allReplies) {
		t.Errorf("allReplies has duplicates or replies alike: %d "+
			"names, %d replies, %d lines", len(listed),
			len(allReplies), len(ownReplyLines()))
	}
}
