package relayq

import (
	"strings"
	"testing"
	"time"
)

func TestDSNStatus(t *testing.T) {
	tests := []struct{ reply, status, diag string }{
		{"550 5.1.1 no such user", "5.1.1", "smtp; 550 5.1.1 no such user"},
		{"552 5.3.4 too big", "5.3.4", "smtp; 552 5.3.4 too big"},
		{"554 transaction failed", "5.0.0", "smtp; 554 transaction failed"},
		{"556 5.1.10 null MX", "5.1.10", "smtp; 556 5.1.10 null MX"},
		{"451 4.3.0 later", "4.3.0", "smtp; 451 4.3.0 later"},
		{"4.4.7 message expired; gave up", "4.4.7",
			"X-StrataMail; 4.4.7 message expired; gave up"},
		{"dial tcp: refused", "5.0.0", "X-StrataMail; dial tcp: refused"},
		{"", "5.0.0", "X-StrataMail; "},
		{"550 see 5.1.1 later in the text", "5.0.0",
			"smtp; 550 see 5.1.1 later in the text"},
	}
	for _, tc := range tests {
		if got := dsnStatus(tc.reply); got != tc.status {
			t.Errorf("dsnStatus(%q) = %q, want %q", tc.reply, got,
				tc.status)
		}
		if got := diagnostic(tc.reply); got != tc.diag {
			t.Errorf("diagnostic(%q) = %q, want %q", tc.reply, got,
				tc.diag)
		}
	}
}

func TestFieldText(t *testing.T) {
	if got := fieldText("a\r\nX-Evil: 1\x00é"); got != "a??X-Evil: 1???" {
		t.Errorf("fieldText = %q", got)
	}
}

// FuzzBuildDSN builds DSNs from arbitrary replies and addresses, which
// come from remote servers and senders: the result must stay CRLF
// only, with a well-formed Status for every recipient.
func FuzzBuildDSN(f *testing.F) {
	f.Add("550 5.1.1 no such user", "bob@elsewhere.test")
	f.Add("4.4.7 message expired; gave up", "\"a b\"@x")
	f.Add("554\r\nX-Evil: 1", "a@b\nc")
	f.Fuzz(func(t *testing.T, reply, addr string) {
		now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
		msg := string(buildDSN(dsn{host: "mx.test", sender: addr,
			id: "x", arrived: now, now: now, remote: addr,
			failed:   []rcpt{{Addr: addr, State: stateFailed, Reply: reply}},
			original: []byte("Subject: s\r\n")}))
		if strings.Contains(strings.ReplaceAll(msg, "\r\n", ""), "\n") ||
			strings.Contains(strings.ReplaceAll(msg, "\r\n", ""), "\r") {
			t.Fatalf("bare CR or LF in %q", msg)
		}
		st := dsnStatus(reply)
		if !enhancedRE.MatchString(st) || strings.HasSuffix(st, ";") {
			t.Fatalf("status %q for %q", st, reply)
		}
		if !strings.Contains(msg, "\r\nStatus: "+st+"\r\n") {
			t.Fatalf("no Status %s in %q", st, msg)
		}
	})
}
