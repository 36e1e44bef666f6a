package imapd

import (
	"errors"
	"sync/atomic"

	"github.com/emersion/go-imap/v2/imapserver"
)

// Stats is a snapshot of the server's sessions and login counters.
type Stats struct {
	// Sessions is the number of IMAP connections open now.
	Sessions int64
	// Logins counts LOGIN and AUTHENTICATE attempts by result: "ok",
	// "failed" (unknown user or wrong password) and "error" (the
	// mailbox could not be opened).
	Logins map[string]uint64
}

// counters are the server's live session count and login counters.
type counters struct {
	sessions                     atomic.Int64
	loginOK, loginFail, loginErr atomic.Uint64
}

// countLogin counts a login that returned err.
func (c *counters) countLogin(err error) {
	switch {
	case err == nil:
		c.loginOK.Add(1)
	case errors.Is(err, imapserver.ErrAuthFailed):
		c.loginFail.Add(1)
	default:
		c.loginErr.Add(1)
	}
}

// Stats returns a snapshot of the server's counters.
func (s *Server) Stats() Stats {
	return Stats{
		Sessions: s.stats.sessions.Load(),
		Logins: map[string]uint64{
			"ok":     s.stats.loginOK.Load(),
			"failed": s.stats.loginFail.Load(),
			"error":  s.stats.loginErr.Load(),
		},
	}
}
