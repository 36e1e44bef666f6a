package relayq

import (
	"bufio"
	"context"
	"net"
	"strings"
	"testing"
	"time"
)

// scriptedServer answers each connection on a loopback listener with
// the banner, then with reply to every command, and returns its address.
// An empty banner says nothing at all.
func scriptedServer(t *testing.T, banner, reply string) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go converse(c, banner, reply)
		}
	}()
	return l.Addr().String()
}

func converse(c net.Conn, banner, reply string) {
	defer c.Close()
	if banner == "" {
		bufio.NewReader(c).ReadString('\n') // until the client gives up
		return
	}
	c.Write([]byte(banner))
	r := bufio.NewReader(c)
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return
		}
		if strings.HasPrefix(strings.ToUpper(line), "QUIT") {
			c.Write([]byte("221 bye\r\n"))
			return
		}
		c.Write([]byte(reply))
	}
}

func TestProbe(t *testing.T) {
	closed := func() string {
		l, _ := net.Listen("tcp", "127.0.0.1:0")
		defer l.Close()
		return l.Addr().String()
	}()
	tests := []struct {
		name, relay, want string
	}{
		{"answers", scriptedServer(t, "220 p.test ESMTP\r\n",
			"250 p.test\r\n"), ""},
		{"refused", closed, "connection refused"},
		{"refusing banner", scriptedServer(t, "554 go away\r\n",
			"250 p.test\r\n"), "554"},
		{"EHLO and HELO refused", scriptedServer(t, "220 p.test\r\n",
			"502 no\r\n"), "502"},
		{"silent", scriptedServer(t, "", ""), "timeout"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := Probe(context.Background(), tt.relay, "mx.test",
				500*time.Millisecond)
			switch {
			case tt.want == "" && err != nil:
				t.Errorf("Probe: %v", err)
			case tt.want != "" && (err == nil ||
				!strings.Contains(err.Error(), tt.want)):
				t.Errorf("Probe: %v, want an error with %q", err, tt.want)
			}
		})
	}
}

// TestProbeCancel checks that ending ctx ends a probe of a silent
// server at once, long before its timeout.
func TestProbeCancel(t *testing.T) {
	relay := scriptedServer(t, "", "")
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- Probe(ctx, relay, "mx.test", time.Hour) }()
	cancel()
	if err := <-errc; err == nil {
		t.Fatal("a cancelled probe succeeded")
	}
}
