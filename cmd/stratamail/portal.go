package main

import (
	"crypto/tls"
	"fmt"
	"log/slog"
	"net"
	"path/filepath"

	"github.com/stratamail/continuity/portal"
)

// The operators' portal, wired to the running service: it acts on the
// queue, reads the monitor, and shows the SMTP and IMAP counters.

// listenPortal binds the portal's listener when [portal] is on.
func (s *service) listenPortal() error {
	p := s.config().Portal
	if !p.Enabled() {
		return nil
	}
	ln, err := net.Listen("tcp", p.Listen)
	if err != nil {
		return fmt.Errorf("portal: %w", err)
	}
	s.portalLn = ln
	return nil
}

// newPortal makes the portal once the parts it shows exist.
func (s *service) newPortal(log *slog.Logger) error {
	if s.portalLn == nil {
		return nil
	}
	var err error
	s.portal, err = portal.New(portal.Options{
		Config:   s.config,
		Queue:    s.queue,
		QueueDir: filepath.Join(s.config().Server.DataDir, "queue"),
		Monitor:  s.mon,
		Counters: s.counters,
		Logger:   log,
	})
	return err
}

// counters gathers the protocol servers' counters for /metrics.
func (s *service) counters() portal.Counters {
	sm, im := s.smtp.Stats(), s.imap.Stats()
	return portal.Counters{SMTPMessages: sm.Messages,
		SMTPRefused: sm.Refused, IMAPSessions: im.Sessions,
		IMAPLogins: im.Logins}
}

// servePortal serves the portal until it is closed: over HTTPS when
// it listens off loopback (conf requires [tls] then).
//
// TODO: a reload that changes [portal] listen, or turns the portal on
// or off, takes effect at the next restart; operators and
// metrics_public change at once.
func (s *service) servePortal() error {
	var tlsConfig *tls.Config
	if s.config().Portal.TLS() {
		tlsConfig = s.tlsConfig()
	}
	return s.portal.Serve(s.portalLn, tlsConfig)
}

// portalLns returns the portal's listener in a slice, for the log.
func (s *service) portalLns() []net.Listener {
	if s.portalLn == nil {
		return nil
	}
	return []net.Listener{s.portalLn}
}
