package smtpd

import (
	"fmt"
	"log/slog"
	"net/netip"
	"runtime/debug"
	"strings"
	"sync"

	"github.com/emersion/go-smtp"

	"github.com/stratamail/continuity/conf"
)

// backend makes the sessions of one configuration snapshot.
type backend struct {
	srv *Server
	cfg *conf.Config
}

// NewSession starts a session when the client first says HELO or EHLO
// (and again after STARTTLS).
func (b *backend) NewSession(c *smtp.Conn) (smtp.Session, error) {
	s := &session{srv: b.srv, cfg: b.cfg, conn: c, id: "?"}
	if s.tc = tracked(c.Conn()); s.tc != nil {
		s.id = s.tc.id
	}
	s.remote = remoteIP(c.Conn().RemoteAddr())
	// go-smtp never sees our TLS (tlsup.go).
	s.tls = s.tc != nil && s.tc.isTLS()
	s.log = b.srv.log.With("conn", s.id, "remote", s.remoteString())
	if b.srv.opts.Submission {
		s.log = s.log.With("service", "submission")
	}
	if helo := c.Hostname(); badHelo(helo) != "" {
		// go-smtp answers with our reply and forgets the name.
		s.log.Info("mail refused", "helo", helo, "outcome",
			"refused", "code", codeString(replyBadHelo),
			"reason", badHelo(helo))
		b.srv.stats.countRefusal(replyBadHelo)
		return nil, replyBadHelo
	}
	if b.srv.opts.Submission {
		return subSession{s}, nil
	}
	return s, nil
}

// session is one client's dialogue between HELO and QUIT. go-smtp calls
// its methods from the connection's goroutine, except Data under BDAT,
// which runs beside it; mu guards txn for that case.
type session struct {
	srv    *Server
	cfg    *conf.Config // the snapshot of the connection
	conn   *smtp.Conn
	tc     *trackedConn
	id     string
	remote netip.Addr
	tls    bool
	log    *slog.Logger

	mu       sync.Mutex
	txn      *txn       // nil outside a mail transaction
	user     *conf.User // the submission's authenticated user, or nil
	refusals int        // refused commands, when tc is nil
}

// txn is one mail transaction: MAIL, RCPTs and DATA.
type txn struct {
	helo    string
	from    string
	utf8    bool
	count   int    // RCPT commands accepted, duplicates included
	rcpts   []rcpt // distinct recipients accepted
	refused []string
	logged  bool // its one log line is written (or claimed by Data)
}

// rcpt is an accepted recipient.
type rcpt struct {
	addr   string       // as go-smtp parsed it
	key    string       // lower case, for comparisons
	domain *conf.Domain // nil on the outbound route
	user   *conf.User   // nil for a relay-only domain
}

// Mail starts a transaction (RFC 5321 §4.1.1.2).
func (s *session) Mail(from string, opts *smtp.MailOptions) (err error) {
	defer s.recoverTo(&err, "MAIL")
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.txn != nil {
		return replyNested
	}
	t := &txn{helo: s.conn.Hostname(), from: from, utf8: opts.UTF8}
	r, why := checkMail(t, opts)
	if r == nil && s.srv.opts.Submission {
		r, why = s.checkSender(from)
	}
	if r == nil {
		r, why = s.checkDisk()
	}
	if r != nil {
		t.logged = true
		r = s.refused(r)
		s.logTxn(t, outcome{reply: r, reason: why})
		return r
	}
	s.txn = t
	return nil
}

// checkMail returns the reply refusing a MAIL command, with the reason
// for the log, or nil. The HELO name is checked here too, since a
// second EHLO changes it without a new session.
func checkMail(t *txn, opts *smtp.MailOptions) (*smtp.SMTPError,
	string) {
	if why := badHelo(t.helo); why != "" {
		return replyBadHelo, why
	}
	if opts.Auth != nil && hasControl(*opts.Auth) {
		return replyBadParam, "control character in AUTH="
	}
	return checkAddress(t.from, t.utf8, replyBadSender)
}

// Rcpt adds a recipient, if it is ours (RFC 5321 §4.1.1.3).
func (s *session) Rcpt(to string, _ *smtp.RcptOptions) (err error) {
	defer s.recoverTo(&err, "RCPT")
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.txn == nil { // go-smtp checks this; be safe anyway
		return replyNeedMail
	}
	r, why := s.addRcpt(s.txn, to)
	if r != nil {
		s.txn.refused = append(s.txn.refused,
			fmt.Sprintf("%s (%s: %s)", to, codeString(r), why))
		s.srv.stats.countRefusal(r)
		return s.refused(r)
	}
	return nil
}

// routedLocalPart reports whether the local part of address holds one of
// the old routing characters: '%' (user%other@ourdomain), '!' (bang
// paths) or an '@' hidden in a quoted local part. A primary that still
// honours them would relay on our behalf, so such a recipient is a
// relay attempt, refused as one (554 5.7.1) even where the domain is
// ours.
func routedLocalPart(address string) bool {
	i := strings.LastIndexByte(address, '@')
	return i > 0 && strings.ContainsAny(address[:i], "%!@")
}

// addRcpt checks to against the snapshot and records it; it returns
// the refusal and its reason, or nil.
func (s *session) addRcpt(t *txn, to string) (*smtp.SMTPError, string) {
	if r, why := checkAddress(to, t.utf8, replyBadRcpt); r != nil {
		return r, why
	}
	if max := s.cfg.Server.MaxRecipients; max > 0 && t.count >= max {
		return replyTooManyRcpts, fmt.Sprintf("over max_recipients %d",
			max)
	}
	if strings.EqualFold(to, "postmaster") && s.cfg.Server.Postmaster != "" {
		// RFC 5321 §4.5.1: the bare <postmaster> must be taken.
		to = s.cfg.Server.Postmaster
	}
	dom, user := s.cfg.Lookup(to)
	if dom == nil && !s.srv.opts.Submission {
		return replyRelayDenied, "domain not configured"
	}
	if dom == nil && strings.IndexByte(to, '@') < 0 {
		return replyBadRcpt, "no domain for the outbound route"
	}
	if dom != nil && routedLocalPart(to) {
		return replyRelayDenied, "routing characters in the local part"
	}
	// Before any sign of which users exist. Authenticated users of
	// the submission service are not held to their domain's filter.
	if dom != nil && !s.srv.opts.Submission &&
		!s.cfg.AcceptsFrom(dom, s.remote) {
		return replyNotFromFilter, "client not in accept_from"
	}
	if dom != nil && dom.Mode.Stores() && user == nil {
		return replyNoSuchUser, "no such user in a domain in mode " +
			string(dom.Mode)
	}
	t.count++
	key := strings.ToLower(to)
	for _, r := range t.rcpts {
		if r.key == key {
			return nil, "" // a duplicate: accepted, kept once
		}
	}
	if dom != nil && !dom.Mode.Stores() {
		user = nil
	}
	t.rcpts = append(t.rcpts, rcpt{to, key, dom, user})
	return nil, ""
}

// Reset ends the transaction, logging it if it never reached DATA.
func (s *session) Reset() {
	defer s.recoverTo(new(error), "RSET")
	s.endTxn()
}

// Logout ends the session (QUIT, a closed connection, or STARTTLS).
func (s *session) Logout() (err error) {
	defer s.recoverTo(&err, "logout")
	s.endTxn()
	return nil
}

func (s *session) endTxn() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if t := s.txn; t != nil && !t.logged {
		t.logged = true
		s.logTxn(t, outcome{reason: "no message sent"})
	}
	s.txn = nil
}

// claimTxn returns the transaction for Data and marks its log line as
// Data's to write.
func (s *session) claimTxn() *txn {
	s.mu.Lock()
	defer s.mu.Unlock()
	t := s.txn
	if t == nil { // go-smtp checks this; be safe anyway
		t = &txn{helo: s.conn.Hostname()}
	}
	t.logged = true
	return t
}

// recoverTo turns a panic in a session method into a temporary failure
// for the client and an error in the log, so that one session cannot
// take the server down.
func (s *session) recoverTo(err *error, where string) {
	p := recover()
	if p == nil {
		return
	}
	s.log.Error("panic in smtp session", "in", where, "panic", p,
		"stack", string(debug.Stack()))
	*err = replyTempFail
}

func (s *session) remoteString() string {
	if s.remote.IsValid() {
		return s.remote.String()
	}
	return s.conn.Conn().RemoteAddr().String()
}

// outcome is how a transaction ended.
type outcome struct {
	reply    *smtp.SMTPError // nil: abandoned before DATA
	reason   string          // for the log
	err      error           // the detail of a failure of ours
	id       string
	size     int64
	queueIDs []string
}

// logTxn writes the one log line of a transaction.
func (s *session) logTxn(t *txn, o outcome) {
	msg, res := "mail aborted", "aborted"
	switch {
	case o.reply != nil && o.reply.Code/100 == 2:
		msg, res = "mail accepted", "accepted"
	case o.reply != nil:
		msg, res = "mail refused", "refused"
	}
	s.srv.stats.countTxn(res)
	if o.reply != nil && o.reply.Code/100 != 2 {
		s.srv.stats.countRefusal(o.reply)
	}
	rcpts := make([]string, len(t.rcpts))
	for i, r := range t.rcpts {
		rcpts[i] = r.addr
	}
	attrs := []any{"helo", t.helo, "tls", s.tls, "from", t.from,
		"rcpts", rcpts, "outcome", res}
	if o.reply != nil {
		attrs = append(attrs, "code", codeString(o.reply))
	}
	if o.reason != "" {
		attrs = append(attrs, "reason", o.reason)
	}
	if len(t.refused) > 0 {
		attrs = append(attrs, "refused", t.refused)
	}
	if o.id != "" {
		attrs = append(attrs, "id", o.id, "size", o.size)
	}
	if len(o.queueIDs) > 0 {
		attrs = append(attrs, "queue", o.queueIDs)
	}
	if o.err != nil {
		attrs = append(attrs, "err", o.err.Error())
	}
	s.log.Info(msg, attrs...)
}

func joinIDs(ids []string) string { return strings.Join(ids, " ") }

// maxHelo is the longest HELO argument: a domain name (RFC 5321
// §4.5.3.1.2) or an address literal fits in 255 octets.
const maxHelo = 255

// badHelo says what is wrong with a HELO/EHLO argument, or "".
func badHelo(helo string) string {
	switch {
	case hasControl(helo):
		return "control character in HELO"
	case len(helo) > maxHelo:
		return "HELO argument over 255 octets"
	}
	return ""
}
