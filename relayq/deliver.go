package relayq

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/textproto"
	"slices"
	"strings"
	"time"

	"github.com/emersion/go-smtp"
)

// Timings that are not configurable.
const (
	// submissionTimeout bounds the wait for the reply to the final dot,
	// RFC 5321 §4.5.3.2.6.
	submissionTimeout = 10 * time.Minute
	// tlsRetry is how long a relay host whose STARTTLS failed is
	// contacted without TLS before TLS is tried again.
	tlsRetry = time.Hour
)

// errNoRelay is the error for a domain without a relay host.
var errNoRelay = errors.New("no relay host known for the domain")

// tlsError marks a failure of STARTTLS or of the TLS handshake; the
// caller reconnects without TLS.
type tlsError struct{ err error }

func (e *tlsError) Error() string { return "starttls: " + e.err.Error() }
func (e *tlsError) Unwrap() error { return e.err }

// session is an open SMTP session with a relay host.
type session struct {
	c      *smtp.Client
	relay  string // the host:port connected to
	route  string // what deliverBatch compares: relayFor's answer
	tls    bool
	broken bool        // the connection is unusable: close, no QUIT
	stop   func() bool // detaches the context watch
	used   time.Time   // when the last transaction ended
}

// idleCheck is how long a kept session may rest before alive checks it
// with NOOP; back-to-back messages go without the extra round trip.
const idleCheck = time.Second

// close ends the session with QUIT (RFC 5321 §4.1.1.10) if it is still
// healthy. A nil session is fine.
func (s *session) close() {
	if s == nil {
		return
	}
	s.stop()
	if !s.broken {
		s.c.Quit()
	}
	s.c.Close()
}

// alive checks a session kept from an earlier message with NOOP
// (RFC 5321 §4.1.1.9) if it rested longer than idleCheck: a relay host
// may have closed it meanwhile, and a dead session must cost a
// reconnection, not a deferral.
func (s *session) alive() bool {
	if s.broken {
		return false
	}
	if time.Since(s.used) < idleCheck {
		return true
	}
	if err := s.c.Noop(); err != nil {
		s.broken = true
		return false
	}
	return true
}

// connect opens a session with relay, with opportunistic STARTTLS
// (RFC 3207): a relay host whose TLS fails is reached in plain text.
func (q *Queue) connect(relay string) (*session, error) {
	if relay == "" {
		return nil, errNoRelay
	}
	s, err := q.open(relay, q.tlsAllowed(relay))
	var te *tlsError
	if errors.As(err, &te) {
		q.log.Warn("relay: STARTTLS failed; reconnecting without TLS",
			"relay", relay, "err", err, "retry_tls_after", tlsRetry)
		q.disableTLS(relay)
		s, err = q.open(relay, false)
	}
	return s, err
}

// tlsAllowed reports whether STARTTLS should be tried with relay.
func (q *Queue) tlsAllowed(relay string) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	return !q.clock.Now().Before(q.noTLS[relay])
}

func (q *Queue) disableTLS(relay string) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.noTLS[relay] = q.clock.Now().Add(tlsRetry)
}

// open dials relay and greets it, after STARTTLS if tryTLS.
func (q *Queue) open(relay string, tryTLS bool) (*session, error) {
	ctx := q.run.ctx
	raw, err := q.dial(ctx, relay)
	if err != nil {
		return nil, err
	}
	stop := context.AfterFunc(ctx, func() { raw.Close() })
	conn := &deadlineConn{Conn: raw, timeout: q.dataTimeout()}
	c, secure, err := q.greet(ctx, conn, relay, tryTLS)
	if err != nil {
		stop()
		raw.Close()
		return nil, err
	}
	return &session{c: c, relay: relay, route: relay, tls: secure,
		stop: stop}, nil
}

func (q *Queue) dial(ctx context.Context, relay string) (net.Conn, error) {
	d := net.Dialer{Timeout: q.dialTimeout()}
	return d.DialContext(ctx, "tcp", relay)
}

// greet reads the banner and says EHLO with our hostname, after
// STARTTLS when tryTLS and the relay host offers it.
func (q *Queue) greet(ctx context.Context, conn net.Conn, relay string,
	tryTLS bool) (*smtp.Client, bool, error) {
	tp, err := q.readBanner(conn)
	if err != nil {
		return nil, false, err
	}
	tc := conn
	secure := false
	if tryTLS {
		c, err := q.startTLS(ctx, conn, tp, relay)
		if err != nil {
			return nil, false, err
		}
		if secure = c != nil; secure {
			tc = c
		}
	}
	// The banner was read above; the client waits for one.
	c := q.newClient(&greetedConn{Conn: tc,
		pending: []byte("220 greeted\r\n")})
	// RFC 5321 §4.1.4 allows EHLO again; RFC 3207 §4.2 requires it
	// after TLS.
	if err := c.Hello(q.hostname()); err != nil {
		c.Close()
		return nil, false, err
	}
	return c, secure, nil
}

func (q *Queue) newClient(conn net.Conn) *smtp.Client {
	c := smtp.NewClient(conn)
	c.CommandTimeout = q.commandTimeout()
	c.SubmissionTimeout = submissionTimeout
	return c
}

// startTLS reads the banner, says EHLO and, if STARTTLS is offered,
// negotiates TLS (RFC 3207 §4). It returns the TLS connection, or nil
// when the relay host offers no STARTTLS.
//
// go-smtp's client cannot do this itself: its STARTTLS greets as
// "localhost" and fails whole when TLS does.
//
// TODO: certificates are not verified (opportunistic TLS to the
// primary, RFC 7435); a per-domain "verify" setting is to come.
func (q *Queue) startTLS(ctx context.Context, conn net.Conn,
	tp *textproto.Conn, relay string) (net.Conn, error) {
	conn.SetDeadline(time.Now().Add(q.commandTimeout()))
	defer conn.SetDeadline(time.Time{})
	_, ext, err := command(tp, 250, "EHLO %s", q.hostname())
	var perr *textproto.Error
	if errors.As(err, &perr) {
		return nil, nil // no EHLO: the client falls back to HELO
	} else if err != nil {
		return nil, err
	}
	if !offers(ext, "STARTTLS") {
		return nil, nil
	}
	if _, _, err := command(tp, 220, "STARTTLS"); err != nil {
		return nil, &tlsError{err}
	}
	if tp.R.Buffered() > 0 {
		// RFC 3207 §6: nothing may follow the 220 in plain text.
		return nil, &tlsError{errors.New("data after the 220 reply")}
	}
	host, _, _ := net.SplitHostPort(relay)
	tc := tls.Client(conn, &tls.Config{
		ServerName:         host,
		InsecureSkipVerify: true,
		MinVersion:         tls.VersionTLS12,
	})
	if err := tc.HandshakeContext(ctx); err != nil {
		return nil, &tlsError{err}
	}
	return tc, nil
}

// ErrLoop is the error of a relay host that greets as this server: its
// mail would come straight back.
var ErrLoop = errors.New("mail loop: the relay host greets with this " +
	"server's own hostname")

// readBanner reads the relay host's 220 banner (RFC 5321 §4.3.1: a 554
// banner is a refusal) and refuses a host that greets as this server,
// such as a relay host name that leads back here through DNS. The
// connection is read through the returned text conn from then on, which
// is never closed: conn lives on.
func (q *Queue) readBanner(conn net.Conn) (*textproto.Conn, error) {
	conn.SetDeadline(time.Now().Add(q.commandTimeout()))
	defer conn.SetDeadline(time.Time{})
	tp := textproto.NewConn(conn)
	_, banner, err := tp.ReadResponse(220)
	if err != nil {
		return nil, err
	}
	if host, _, _ := strings.Cut(banner, " "); strings.EqualFold(host,
		q.hostname()) {
		return nil, ErrLoop
	}
	return tp, nil
}

// command sends one command and reads its reply.
func command(tp *textproto.Conn, want int, format string,
	args ...any) (int, string, error) {
	id, err := tp.Cmd(format, args...)
	if err != nil {
		return 0, "", err
	}
	tp.StartResponse(id)
	defer tp.EndResponse(id)
	return tp.ReadResponse(want)
}

// offers reports whether an EHLO reply lists the extension ext.
func offers(reply, ext string) bool {
	lines := strings.Split(reply, "\n")
	for _, l := range lines[1:] {
		kw, _, _ := strings.Cut(l, " ")
		if strings.EqualFold(kw, ext) {
			return true
		}
	}
	return false
}

// send runs one mail transaction (RFC 5321 §3.3) for the pending
// recipients of env and returns every recipient with its new state, the
// final reply, and an error if the session broke (the remaining
// recipients then stay pending).
func (s *session) send(env *envelope, msg io.Reader,
	size int64) ([]rcpt, string, error) {
	defer func() { s.used = time.Now() }()
	rcpts := slices.Clone(env.Rcpts)
	var todo []int
	for i, r := range rcpts {
		if r.State == statePending {
			todo = append(todo, i)
		}
	}
	opts := &smtp.MailOptions{Size: size, UTF8: needsUTF8(env)}
	if ok, _ := s.c.Extension("SMTPUTF8"); opts.UTF8 && !ok {
		// RFC 6531 §3.2: no downgrade here; the operator decides.
		setAll(rcpts, todo, replySMTPUTF8)
		return rcpts, replySMTPUTF8.Error(), nil
	}
	if err := s.c.Mail(quoteAddr(env.Sender), opts); err != nil {
		return rcpts, "", s.record(rcpts, todo, err)
	}
	accepted, err := s.rcptAll(rcpts, todo)
	if err != nil || len(accepted) == 0 {
		return rcpts, "", s.reset(err)
	}
	return s.data(rcpts, accepted, msg)
}

var replySMTPUTF8 = &smtp.SMTPError{Code: 553,
	EnhancedCode: smtp.EnhancedCode{5, 6, 7},
	Message:      "the primary does not offer SMTPUTF8"}

// rcptAll sends RCPT for each of todo and returns those accepted.
func (s *session) rcptAll(rcpts []rcpt, todo []int) ([]int, error) {
	var accepted []int
	for _, i := range todo {
		err := s.c.Rcpt(quoteAddr(rcpts[i].Addr), nil)
		if err == nil {
			accepted = append(accepted, i)
		} else if err := s.record(rcpts, []int{i}, err); err != nil {
			return nil, err
		}
	}
	return accepted, nil
}

// data sends the message to the accepted recipients, byte for byte
// (the file is CRLF already; the dot writer stuffs leading dots,
// RFC 5321 §4.5.2).
func (s *session) data(rcpts []rcpt, accepted []int,
	msg io.Reader) ([]rcpt, string, error) {
	w, err := s.c.Data()
	if err != nil {
		return rcpts, "", s.reset(s.record(rcpts, accepted, err))
	}
	if _, err := io.Copy(w, msg); err != nil {
		s.broken = true
		return rcpts, "", fmt.Errorf("data: %w", err)
	}
	resp, err := w.CloseWithResponse()
	if err != nil {
		return rcpts, "", s.record(rcpts, accepted, err)
	}
	reply := "250 " + resp.StatusText
	for _, i := range accepted {
		rcpts[i].State, rcpts[i].Reply = stateDone, reply
	}
	return rcpts, reply, nil
}

// record applies a reply error to the recipients idx. An error that is
// not an SMTP reply, or a 421 (RFC 5321 §3.8), breaks the session and
// is returned.
func (s *session) record(rcpts []rcpt, idx []int, err error) error {
	var se *smtp.SMTPError
	if !errors.As(err, &se) {
		s.broken = true
		return err
	}
	setAll(rcpts, idx, se)
	if se.Code == 421 {
		s.broken = true
		return errors.New(formatReply(se))
	}
	return nil
}

// setAll gives the recipients idx the state that reply se means:
// 2yz done, 5yz failed, anything else pending (RFC 5321 §4.2.1).
func setAll(rcpts []rcpt, idx []int, se *smtp.SMTPError) {
	state := statePending
	switch se.Code / 100 {
	case 2:
		state = stateDone
	case 5:
		state = stateFailed
	}
	for _, i := range idx {
		rcpts[i].State, rcpts[i].Reply = state, formatReply(se)
	}
}

// reset aborts the transaction with RSET after a refusal, unless err
// already broke the session; it returns err, or RSET's failure.
func (s *session) reset(err error) error {
	if err != nil || s.broken {
		return err
	}
	var se *smtp.SMTPError
	if rerr := s.c.Reset(); rerr != nil && !errors.As(rerr, &se) {
		s.broken = true
		return rerr
	}
	return nil
}

// formatReply renders a reply as one line: code, enhanced code, text.
func formatReply(se *smtp.SMTPError) string {
	s := fmt.Sprint(se.Code)
	ec := se.EnhancedCode
	if ec != smtp.EnhancedCodeNotSet && ec != smtp.NoEnhancedCode {
		s += fmt.Sprintf(" %d.%d.%d", ec[0], ec[1], ec[2])
	}
	if se.Message != "" {
		s += " " + strings.ReplaceAll(se.Message, "\n", " / ")
	}
	return s
}

// needsUTF8 reports whether env has a non-ASCII address (RFC 6531).
func needsUTF8(env *envelope) bool {
	if !isASCII(env.Sender) {
		return true
	}
	for _, r := range env.Rcpts {
		if !isASCII(r.Addr) {
			return true
		}
	}
	return false
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

// quoteAddr returns addr as a path argument: the local part quoted when
// it is not a Dot-string (RFC 5321 §4.1.2). go-smtp's server hands us
// local parts with their quotes removed.
func quoteAddr(addr string) string {
	at := strings.LastIndexByte(addr, '@')
	local, domain := addr, ""
	if at >= 0 {
		local, domain = addr[:at], addr[at:]
	}
	if addr == "" || isDotString(local) || isQuoted(local) {
		return addr
	}
	var b strings.Builder
	b.WriteByte('"')
	for i := 0; i < len(local); i++ {
		if local[i] == '"' || local[i] == '\\' {
			b.WriteByte('\\') // quoted-pairSMTP
		}
		b.WriteByte(local[i])
	}
	b.WriteByte('"')
	return b.String() + domain
}

func isQuoted(s string) bool {
	return len(s) >= 2 && s[0] == '"' && s[len(s)-1] == '"'
}

// isDotString reports whether s is a Dot-string of atext (RFC 5321
// §4.1.2; non-ASCII counts as atext, RFC 6531 §3.3).
func isDotString(s string) bool {
	for _, atom := range strings.Split(s, ".") {
		if atom == "" {
			return false
		}
		for i := 0; i < len(atom); i++ {
			c := atom[i]
			if c < 0x80 && !isAlnum(c) &&
				!strings.ContainsRune("!#$%&'*+-/=?^_`{|}~", rune(c)) {
				return false
			}
		}
	}
	return true
}

func isAlnum(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' ||
		'0' <= c && c <= '9'
}

// deadlineConn gives every write its own deadline, so a relay host that
// stops reading during DATA cannot stall a worker: go-smtp sets none
// while the message is written.
type deadlineConn struct {
	net.Conn
	timeout time.Duration
}

func (c *deadlineConn) Write(p []byte) (int, error) {
	c.Conn.SetWriteDeadline(time.Now().Add(c.timeout))
	return c.Conn.Write(p)
}

// greetedConn replays a greeting to go-smtp's client, which reads one
// first, on a connection whose banner we read ourselves.
type greetedConn struct {
	net.Conn
	pending []byte
}

func (c *greetedConn) Read(p []byte) (int, error) {
	if len(c.pending) > 0 {
		n := copy(p, c.pending)
		c.pending = c.pending[n:]
		return n, nil
	}
	return c.Conn.Read(p)
}
