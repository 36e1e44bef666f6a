package imapd

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestGoImapLog: imapserver's lines about what a client sent or a
// connection lost are INFO, with a message that says which; anything
// else stays ERROR.
func TestGoImapLog(t *testing.T) {
	reset := &net.OpError{Op: "read", Net: "tcp",
		Err: syscall.ECONNRESET}
	tests := []struct {
		format string
		v      []any
		want   string
	}{
		{"handling %v command: %v", []any{"FETCH",
			errors.New(`imap: bad number set value "0"`)},
			`level=INFO msg="imap command refused by go-imap" command=FETCH`},
		{"handling %v command: %v", []any{"IDLE",
			fmt.Errorf("read: %w", net.ErrClosed)},
			`level=INFO msg="imap connection lost" command=IDLE`},
		{"failed to read command: %v", []any{reset},
			`level=INFO msg="imap connection lost"`},
		{"failed to read command: %v", []any{io.ErrUnexpectedEOF},
			`level=INFO msg="imap connection lost"`},
		{"failed to read command: %v", []any{
			errors.New("in command: imapwire: expected SP, got \"\\r\"")},
			`level=INFO msg="imap command unreadable; connection closed"`},
		{"panic handling command: %v\n%s", []any{"boom", "stack"},
			`level=ERROR msg="imap: panic handling command: boom`},
	}
	for _, tt := range tests {
		var buf bytes.Buffer
		g := goImapLog{slog.New(slog.NewTextHandler(&buf, nil))}
		g.Printf(tt.format, tt.v...)
		if !strings.Contains(buf.String(), tt.want) {
			t.Errorf("%s %v: %s, want %s", tt.format, tt.v, buf.String(),
				tt.want)
		}
	}
}

// TestConnLostNotError: a client that resets its connection, in IDLE or
// between commands, leaves no ERROR line and no refusal in the log.
func TestConnLostNotError(t *testing.T) {
	h := start(t, t.TempDir())
	for _, idle := range []bool{false, true} {
		r := h.raw(true)
		if idle {
			r.cmd("SELECT INBOX")
			r.send("i1 IDLE\r\n")
			r.upTo("+")
		}
		r.c.(*net.TCPConn).SetLinger(0)
		r.c.Close() // a reset
	}
	time.Sleep(200 * time.Millisecond)
	logs := h.log.String()
	if strings.Contains(logs, "level=ERROR") ||
		strings.Contains(logs, "imap command refused") {
		t.Errorf("log:\n%s", logs)
	}
}
