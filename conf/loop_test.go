package conf

import (
	"strings"
	"testing"
)

func TestRelayLoops(t *testing.T) {
	tests := []struct {
		relay  string
		listen []string
		want   bool
	}{
		{"127.0.0.2:25", []string{"0.0.0.0:25"}, true},
		{"127.0.0.1:25", []string{"127.0.0.1:25"}, true},
		{"[::1]:25", []string{"[::]:25"}, true},
		{"127.0.0.1:25", []string{":25"}, true},
		{"192.0.2.10:25", []string{"192.0.2.10:25"}, true},
		{"mx.test:25", []string{"0.0.0.0:25"}, true}, // our hostname
		{"MX.TEST:25", []string{"0.0.0.0:25"}, true},
		{"127.0.0.2:25", []string{"192.0.2.10:25"}, false},
		{"127.0.0.1:2526", []string{"127.0.0.1:2525"}, false},
		{"192.0.2.25:25", []string{"0.0.0.0:25"}, false},
		{"mail.example.com:25", []string{"0.0.0.0:25"}, false},
		{"mx.test:587", []string{"0.0.0.0:25"}, false},
	}
	for _, tt := range tests {
		got := RelayLoops(tt.relay, tt.listen, "mx.test")
		if got != tt.want {
			t.Errorf("RelayLoops(%s, %v) = %v, want %v", tt.relay,
				tt.listen, got, tt.want)
		}
	}
}

func TestRelayLoopRefused(t *testing.T) {
	text := "[server]\ndata_dir = \"/srv\"\nhostname = \"mx.test\"\n" +
		"[smtp]\nlisten = [\"0.0.0.0:25\"]\n[[domain]]\n" +
		"name = \"example.test\"\nmode = \"relay\"\n" +
		"relay = \"127.0.0.2:25\"\n"
	_, err := Parse("t.toml", []byte(text))
	want := `t.toml:9: domain[0].relay: "127.0.0.2:25" is this ` +
		`server's own SMTP listener; mail would loop back here`
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("error %v, want %s", err, want)
	}
}
