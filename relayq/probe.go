package relayq

import (
	"context"
	"net"
	"time"

	"github.com/emersion/go-smtp"
)

// Probe checks that the SMTP server at relay (host:port) takes a
// session: connect, 220 banner, EHLO hostname, QUIT (RFC 5321 §3.1,
// §4.1.1.10). It sends no mail. timeout bounds the connect and each
// step; ctx ends the probe early. The watcher and the monitor share it.
func Probe(ctx context.Context, relay, hostname string,
	timeout time.Duration) error {
	d := net.Dialer{Timeout: timeout}
	raw, err := d.DialContext(ctx, "tcp", relay)
	if err != nil {
		return err
	}
	stop := context.AfterFunc(ctx, func() { raw.Close() })
	defer stop()
	// The client sets a deadline of CommandTimeout on the banner and
	// on each command.
	c := smtp.NewClient(raw)
	c.CommandTimeout = timeout
	defer c.Close()
	if err := c.Hello(hostname); err != nil {
		return err
	}
	return c.Quit()
}
