package imapd

import (
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver"

	"github.com/stratamail/continuity/conf"
	"github.com/stratamail/continuity/store"
)

// session is one IMAP connection.
type session struct {
	srv    *Server
	id     uint64
	remote string
	ip     netip.Addr   // the client's address, for the login limits
	cfg    *conf.Config // snapshot taken when the connection started
	guard  *guardConn   // nil unless the connection is guarded (SORT)

	user *conf.User     // nil until logged in
	acct *store.Account // the user's shadow mailbox
	sel  *selected      // nil unless a mailbox is selected

	// imapserver returns from IDLE on a read error (a reset) without
	// waiting for Idle, so Close may run beside it: Close waits for
	// the Idle in flight, and none starts after it.
	idleMu   sync.Mutex
	closed   bool
	idleDone sync.WaitGroup
}

// selected is the state of the selected mailbox.
type selected struct {
	folder   *store.Folder
	tracker  *imapserver.SessionTracker
	readOnly bool // EXAMINE; beta.8 does not enforce it, we do
}

var _ imapserver.SessionIMAP4rev2 = (*session)(nil)

// errLockedOut answers a login from a client locked out after failures.
var errLockedOut = &imap.Error{Type: imap.StatusResponseTypeNo,
	Code: imap.ResponseCodeUnavailable,
	Text: "Too many failed logins; try again later"}

// logger returns the session's logger, tagged with its connection and,
// once logged in, its user.
func (s *session) logger() *slog.Logger {
	if s.user != nil {
		return s.srv.log.With("conn", s.id, "remote", s.remote,
			"user", s.user.Address)
	}
	return s.srv.log.With("conn", s.id, "remote", s.remote)
}

// Close ends the session.
func (s *session) Close() error {
	s.idleMu.Lock()
	s.closed = true
	s.idleMu.Unlock()
	s.idleDone.Wait()
	s.srv.stats.sessions.Add(-1)
	s.closeSelected()
	return nil
}

// Login checks a LOGIN or AUTHENTICATE PLAIN against the configured
// users; aliases are not login names. The password is never logged.
// Failures cost a growing delay and then a lockout (internal/authlimit);
// an unknown user and a wrong password get the same answer after the
// same time.
func (s *session) Login(username, password string) (err error) {
	defer func() { s.srv.stats.countLogin(err) }()
	start := time.Now()
	login := strings.ToLower(username)
	log := s.logger().With("user", login, "tls",
		s.guard != nil && s.guard.tls)
	// A webmail on this host may name its user's address (idwire.go):
	// the limits then count that address instead of loopback's, and
	// all such logins of a user together, more loosely (webmailAuth),
	// so that naming a new address for every guess gets nowhere.
	ip, viaWebmail := s.ip, false
	if o := s.guard.originatingIP(); s.ip.IsLoopback() && o.IsValid() &&
		!o.IsLoopback() && !o.IsUnspecified() {
		ip, viaWebmail = o, true
		log = log.With("client", o.String())
	}
	auth := s.srv.auth
	locked, until := auth.Locked(ip, login, s.srv.now())
	if viaWebmail && !locked {
		locked, until = s.srv.webmailAuth.Locked(s.ip, login, s.srv.now())
	}
	if locked {
		log.Warn("imap login", "outcome", "locked out", "until", until)
		return errLockedOut
	}
	var u *conf.User
	if s.cfg != nil {
		u = s.cfg.User(login)
	}
	why := ""
	switch {
	case u == nil || u.Address != login:
		conf.BurnPassword(password)
		why = "unknown user"
	case !s.srv.warmInbox(u.Address) && !u.CheckPassword(password):
		why = "bad password"
	}
	if why != "" {
		n, delay, locked := auth.Failed(ip, login, s.srv.now())
		if viaWebmail {
			_, d, l := s.srv.webmailAuth.Failed(s.ip, login, s.srv.now())
			delay, locked = max(delay, d), locked || l
		}
		log.Info("imap login", "outcome", "failed", "reason", why,
			"failures", n, "delay", delay, "locked", locked,
			"took", time.Since(start))
		s.srv.sleep(delay)
		if locked {
			return errLockedOut
		}
		return imapserver.ErrAuthFailed
	}
	auth.Succeeded(ip, login)
	if viaWebmail {
		s.srv.webmailAuth.Succeeded(s.ip, login)
	}
	acct, err := s.srv.opts.Store.Account(u.Address)
	if err != nil {
		log.Error("imap login", "outcome", "failed",
			"reason", "mailbox unusable", "err", err)
		return &imap.Error{Type: imap.StatusResponseTypeNo,
			Code: imap.ResponseCodeUnavailable,
			Text: "Mailbox temporarily unavailable"}
	}
	s.user, s.acct = u, acct
	log.Info("imap login", "outcome", "ok", "took", time.Since(start))
	return nil
}

// Namespace reports one personal namespace with an empty prefix and '.'
// as delimiter (RFC 2342), as Dovecot does over Maildir++.
func (s *session) Namespace() (*imap.NamespaceData, error) {
	return &imap.NamespaceData{Personal: []imap.NamespaceDescriptor{
		{Prefix: "", Delim: store.Delimiter},
	}}, nil
}

// Unselect leaves the selected mailbox (RFC 3691; also after CLOSE).
func (s *session) Unselect() error {
	s.closeSelected()
	return nil
}

func (s *session) closeSelected() {
	if s.sel != nil {
		s.sel.tracker.Close()
		s.sel = nil
	}
}

// Poll brings the selected mailbox up to date with the disk (new
// deliveries, other sessions' changes) and writes the pending updates.
func (s *session) Poll(w *imapserver.UpdateWriter, allowExpunge bool) error {
	if s.sel == nil {
		return nil
	}
	err := s.sel.folder.Locked(func(*store.View) error { return nil })
	if err != nil && !errors.Is(err, store.ErrGone) {
		return s.fail(err)
	}
	return s.sel.tracker.Poll(w, allowExpunge)
}

// Idle waits for updates of the selected mailbox (RFC 2177). The
// folder is rescanned when its new/ or cur/ changes (idlewatch.go) and,
// as a safety net, every IdlePoll.
func (s *session) Idle(w *imapserver.UpdateWriter, stop <-chan struct{}) error {
	s.idleMu.Lock()
	if s.closed {
		s.idleMu.Unlock()
		return nil
	}
	s.idleDone.Add(1)
	sel := s.sel
	s.idleMu.Unlock()
	defer s.idleDone.Done()
	if sel == nil {
		<-stop
		return nil
	}
	done := make(chan struct{})
	defer close(done)
	go s.idleScan(sel.folder, done)
	return sel.tracker.Idle(w, stop)
}

// idleScan rescans f until done is closed; changes reach the session
// through its tracker.
func (s *session) idleScan(f *store.Folder, done <-chan struct{}) {
	defer func() {
		if v := recover(); v != nil {
			s.logger().Error("panic in idle scan", "panic", v)
		}
	}()
	changed, stop, _ := s.srv.idle.subscribe(f.Dir())
	defer stop()
	t := time.NewTicker(s.srv.opts.IdlePoll)
	defer t.Stop()
	for {
		select {
		case <-done:
			return
		case <-t.C:
		case <-changed: // nil, never ready, when not watched
		}
		err := f.Locked(func(*store.View) error { return nil })
		if err != nil && !errors.Is(err, store.ErrGone) {
			s.logger().Warn("idle scan", "err", err)
		}
	}
}

// fail maps an error from store to the IMAP reply the client gets, in
// one place; anything unexpected is logged and answered as a server
// error, without details.
func (s *session) fail(err error) error {
	var ie *imap.Error
	no := func(code imap.ResponseCode, text string) error {
		return &imap.Error{Type: imap.StatusResponseTypeNo,
			Code: code, Text: text}
	}
	switch {
	case errors.As(err, &ie):
		return err
	case errors.Is(err, store.ErrBadName):
		return no(imap.ResponseCodeCannot, "Invalid mailbox name: "+
			strings.TrimPrefix(err.Error(), store.ErrBadName.Error()+": "))
	case errors.Is(err, store.ErrGone):
		return no(imap.ResponseCodeNonExistent,
			"Mailbox was deleted or renamed")
	case errors.Is(err, store.ErrNotFound):
		return no(imap.ResponseCodeNonExistent, "No such mailbox")
	case errors.Is(err, store.ErrExists):
		return no(imap.ResponseCodeAlreadyExists, "Mailbox already exists")
	case errors.Is(err, store.ErrInbox):
		return no(imap.ResponseCodeCannot, "Not possible for INBOX")
	case errors.Is(err, store.ErrTruncated):
		s.logger().Warn("imap append truncated", "err", err)
		return &imap.Error{Type: imap.StatusResponseTypeBad,
			Text: "Message data shorter than announced"}
	}
	s.logger().Error("imap command failed", "err", err)
	// Not imapserver's own words, which the guard reads as a client's
	// mistake (badargs.go).
	return no(imap.ResponseCodeServerBug, "Server error; it is logged")
}

// errReadOnly answers write commands in a mailbox opened with EXAMINE
// (RFC 3501 §6.3.2).
var errReadOnly = &imap.Error{
	Type: imap.StatusResponseTypeNo,
	Code: "READ-ONLY",
	Text: "Mailbox is read-only (EXAMINE)",
}

// needSelected returns the selected mailbox; imapserver only calls the
// selected-state methods with one, so this guards our own mistakes.
func (s *session) needSelected() (*selected, error) {
	if s.sel == nil {
		return nil, s.fail(fmt.Errorf("imapd: no mailbox selected"))
	}
	return s.sel, nil
}
