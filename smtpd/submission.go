package smtpd

// The submission service (RFC 6409): the same intake as port 25, with
// AUTH PLAIN and LOGIN (RFC 4954) required before MAIL, the envelope
// sender and the From: header checked against the user's addresses,
// and every recipient outside our domains sent on the outbound route.
// Failed logins per client address and messages per user per hour are
// limited (limits.go).

import (
	"strings"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"github.com/stratamail/continuity/conf"
	"github.com/stratamail/continuity/internal/authlimit"
)

// The mechanisms offered, in order. go-smtp offers them only under TLS
// unless allow_insecure_auth is set.
var authMechanisms = []string{sasl.Plain, sasl.Login}

// subSession is a session of the submission service: go-smtp offers
// AUTH to sessions that implement smtp.AuthSession.
type subSession struct {
	*session
}

// AuthMechanisms lists the SASL mechanisms offered.
func (s subSession) AuthMechanisms() []string { return authMechanisms }

// Auth starts an exchange of mech. A client address locked out after
// failed logins gets 421 and the connection is closed.
func (s subSession) Auth(mech string) (sasl.Server, error) {
	if r := s.checkLockout(""); r != nil {
		return nil, r
	}
	switch mech {
	case sasl.Plain:
		return sasl.NewPlainServer(s.plain), nil
	case sasl.Login:
		return newLoginServer(func(user, pass string) error {
			return s.login(user, pass, mech)
		}), nil
	}
	return nil, smtp.ErrAuthUnknownMechanism
}

// plain checks PLAIN's credentials (RFC 4616); an authorization
// identity, if any, must be the user itself: nobody sends as another.
func (s subSession) plain(identity, user, pass string) error {
	if identity != "" && !strings.EqualFold(identity, user) {
		s.authFailed(user, sasl.Plain, "authorization identity "+
			"differs from the user")
		return replyAuthFailed
	}
	return s.login(user, pass, sasl.Plain)
}

// login checks a user name and password, and records the user or the
// failure. The password is never logged.
func (s subSession) login(user, pass, mech string) error {
	if r := s.checkLockout(user); r != nil {
		return r
	}
	u := s.cfg.User(user)
	if u == nil {
		// Spend the time a real check takes, so that a reply's
		// delay does not tell which users exist.
		conf.BurnPassword(pass)
		return s.authFailed(user, mech, "no such user")
	}
	if !u.CheckPassword(pass) {
		return s.authFailed(user, mech, "wrong password")
	}
	s.srv.auth.Succeeded(s.remote, user)
	s.mu.Lock()
	s.user = u
	s.mu.Unlock()
	s.log = s.log.With("user", u.Address)
	s.log.Info("login", "mech", mech, "outcome", "ok")
	return nil
}

// authFailed records a failed login, waits the growing delay and
// returns the reply: 535, or 421 once the address is locked out.
func (s subSession) authFailed(user, mech, why string) error {
	n, delay, locked := s.srv.auth.Failed(s.remote, user, s.srv.opts.Now())
	// The user name is logged for the operator; it may be a mistyped
	// password, but a log without it cannot tell attacks apart.
	s.log.Warn("login failed", "login", user, "mech", mech,
		"reason", why, "failures", n, "delay", delay,
		"locked", locked)
	if locked {
		s.log.Warn("login locked out", "login", user, "failures", n,
			"for", authlimit.PerUser.Lockout)
		return s.closeWith(replyAuthLocked)
	}
	if delay > 0 {
		s.srv.tune.sleep(delay)
	}
	return replyAuthFailed
}

// checkLockout returns 421 while the client, logging in as user ("" for
// the address alone), is locked out.
func (s subSession) checkLockout(user string) error {
	locked, until := s.srv.auth.Locked(s.remote, user, s.srv.opts.Now())
	if !locked {
		return nil
	}
	s.log.Warn("login refused: locked out", "until", until)
	return s.closeWith(replyAuthLocked)
}

// closeWith makes r the connection's last reply and returns it.
func (s *session) closeWith(r *smtp.SMTPError) error {
	if s.tc != nil {
		s.tc.closeAfterWrite.Store(true)
	}
	return r
}

// checkSender returns the refusal of a MAIL command of the submission
// service, with the reason for the log, or nil. The caller holds s.mu.
func (s *session) checkSender(from string) (*smtp.SMTPError, string) {
	u := s.user
	switch {
	case u == nil:
		return replyAuthRequired, "not authenticated"
	case !u.Owns(from):
		return replySenderNotOwned, "sender is not the user's " +
			"address or alias"
	}
	max := s.cfg.Submission.MaxMessagesPerHour
	if max > 0 && s.srv.limits.overRate(u.Address, max,
		s.srv.opts.Now()) {
		return replyRateLimited, "over max_messages_per_hour"
	}
	return nil, ""
}

// checkAuthors returns the refusal of a submitted message whose From:
// or Sender: is not one of the user's addresses, or nil.
func (s *session) checkAuthors(h *headerCapture) (*smtp.SMTPError,
	string) {
	hdr, err := h.header()
	if err != nil {
		return replyFromNotOwned, err.Error()
	}
	addrs, err := authorAddrs(hdr)
	if err != nil {
		return replyBadAuthors, err.Error()
	}
	for _, a := range addrs {
		if !s.user.Owns(a) {
			return replyFromNotOwned, "From: or Sender: " + a +
				" is not the user's"
		}
	}
	return nil, ""
}

// userName returns the authenticated user's address, or "".
func (s *session) userName() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.user == nil {
		return ""
	}
	return s.user.Address
}

// sent counts an accepted message against the user's hourly cap.
func (s *session) sent() {
	if u := s.userName(); u != "" {
		s.srv.limits.sentOne(u, s.srv.opts.Now())
	}
}
