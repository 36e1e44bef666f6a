// Package smtpd is StrataMail's SMTP front end: the door (port 25)
// through which a customer's mail arrives while their primary is down,
// from their spam filter or as a secondary MX, and the submission
// service (587, 465) through which its users send meanwhile.
//
// It owns the SMTP dialogue on top of go-smtp: which recipients are
// accepted (only those of configured domains, and for domains with
// shadow mailboxes only known users), the checks on what the client
// sends, the Received trace header, and the intake transaction that
// makes a message durable before the 250: written once into the store's
// spool, fsynced, hard-linked into each local recipient's new/ and into
// the relay queue (one entry per domain), then the spool name dropped.
//
// With Options.Submission the same intake serves authenticated users
// (RFC 6409, see submission.go): AUTH PLAIN or LOGIN first, only the
// user's own sender addresses, and recipients outside our domains
// queued for the outbound route. Port 25 never offers AUTH.
//
// Beneath go-smtp, every connection passes small layers of ours
// (wire.go): a tap on the replies, which logs and counts the refusals
// go-smtp gives by itself, and a guard on DATA bodies, which marks the
// "\r\n.\rX" that go-smtp's reader would silently drop, so that it is
// refused as a bare CR. They see plain text in TLS too: the TLS, of
// STARTTLS and implicit alike, is done beneath them (tlsup.go).
//
// smtpd never relays for an unauthenticated client and never modifies
// a message after it is stored. It does not write to the
// configuration; each connection keeps the snapshot current when it was
// accepted.
package smtpd

import (
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/stratamail/continuity/conf"
	"github.com/stratamail/continuity/internal/authlimit"
	"github.com/stratamail/continuity/internal/chanln"
	"github.com/stratamail/continuity/store"
)

// Queue is the relay queue as smtpd needs it; relayq implements it.
type Queue interface {
	// Enqueue links the committed message file at msgPath into a new
	// queue entry for the primary of d (the domain as the session's
	// snapshot has it), with the envelope from and rcpts, and makes it
	// durable. It returns the entry's id.
	Enqueue(msgPath string, d *conf.Domain, from string,
		rcpts []string) (id string, err error)
	// EnqueueOutbound is Enqueue for the outbound route: recipients
	// of domain, which is not one of ours, reached through the
	// smarthost or domain's MX hosts.
	EnqueueOutbound(msgPath, domain, from string, rcpts []string) (
		id string, err error)
	// Cancel removes an entry Enqueue made, when the intake that
	// made it fails later.
	Cancel(id string) error
}

// Options configure a Server.
type Options struct {
	// Store holds the spool and the shadow mailboxes.
	Store *store.Store
	// Queue receives the messages for domains in mode both or relay.
	Queue Queue
	// Config returns the current configuration snapshot. Each
	// connection calls it once, when accepted, and keeps the result.
	Config func() *conf.Config
	// Logger receives one line per transaction; nil means
	// slog.Default().
	Logger *slog.Logger
	// TLSConfig enables STARTTLS when not nil, and is the
	// configuration of ServeTLS.
	TLSConfig *tls.Config
	// Submission makes the server the submission service (RFC 6409)
	// instead of the inbound one: AUTH is required before MAIL, the
	// sender must be the user's, and recipients outside our domains
	// take the outbound route. See submission.go.
	Submission bool
	// Now is the clock of the abuse limits; nil means time.Now.
	Now func() time.Time
}

// MaxLineLength is the longest line accepted, commands and message
// text alike, CRLF included. RFC 5321 §4.5.3.1.6 sets 1000 octets for
// text lines, but §4.5.3.1 asks servers to be liberal, and real mail
// breaks it: HTML from generators that never wrap, long encoded
// headers, base64 written without line breaks. As a backup MX, bouncing
// what the primary would have taken loses mail, so the only bound kept
// is one against memory abuse: 64 KiB per line and connection is cheap.
const MaxLineLength = 64 << 10

// tuning holds the timeouts; tests shorten them.
type tuning struct {
	// readTimeout bounds the wait for a command line: RFC 5321
	// §4.5.3.2.7 gives the server 5 minutes.
	readTimeout time.Duration
	// writeTimeout bounds the writing of a reply.
	writeTimeout time.Duration
	// dataReadTimeout bounds each read of a message body, so a slow
	// but steady sender gets through.
	dataReadTimeout time.Duration
	// dataTotal bounds a whole body transfer, so a sender that
	// trickles a byte now and then cannot hold a connection forever.
	dataTotal time.Duration
	// sleep waits out the delay after a failed AUTH; tests record it.
	sleep func(time.Duration)
	// freeDisk measures the free space of a folder (see guard.go).
	freeDisk func(dir string) int64
	// exemptLoopback spares loopback clients maxConnsPerAddr.
	exemptLoopback bool
}

var defaultTuning = tuning{
	readTimeout:     5 * time.Minute,
	writeTimeout:    5 * time.Minute,
	dataReadTimeout: 5 * time.Minute,
	dataTotal:       2 * time.Hour,
	sleep:           time.Sleep,
	freeDisk:        store.FreeDisk,
	exemptLoopback:  true,
}

// Server is the inbound SMTP server. It runs one go-smtp server per
// configuration snapshot, and hands each accepted connection to the one
// of the snapshot current at that moment.
type Server struct {
	opts    Options
	log     *slog.Logger
	tune    tuning
	connSeq atomic.Uint64
	limits  *limits            // the submission's sending limit
	auth    *authlimit.Limiter // failed logins
	stats   *counters

	mu        sync.Mutex
	closed    bool
	gen       *generation
	listeners map[net.Listener]bool
	conns     map[*trackedConn]bool
	perAddr   addrConns      // connections per client address
	busy      sync.WaitGroup // intake transactions in flight
}

// generation is the go-smtp servers of one configuration snapshot: srv
// for connections in clear text, sec for those in TLS (see tlsup.go).
type generation struct {
	cfg   *conf.Config
	srv   *smtp.Server
	ln    *chanln.Listener
	sec   *smtp.Server
	secLn *chanln.Listener
}

// ErrServerClosed is returned by Serve after Close.
var ErrServerClosed = errors.New("smtpd: server closed")

// New returns a Server; call Serve to run it.
func New(opts Options) *Server {
	log := opts.Logger
	if log == nil {
		log = slog.Default()
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &Server{
		opts: opts, log: log, tune: defaultTuning, stats: newCounters(),
		limits:    newLimits(),
		auth:      authlimit.New(authlimit.PerUser, authlimit.PerAddr),
		listeners: map[net.Listener]bool{},
		conns:     map[*trackedConn]bool{},
		perAddr:   addrConns{},
	}
}

// Serve accepts connections on l until Close, then returns nil. Serve
// may run on several listeners at once.
func (s *Server) Serve(l net.Listener) error {
	return s.serve(l, nil)
}

// ServeTLS is Serve with implicit TLS (RFC 8314 §3.3, port 465): each
// connection starts with a TLS handshake, with Options.TLSConfig.
func (s *Server) ServeTLS(l net.Listener) error {
	if s.opts.TLSConfig == nil {
		return errors.New("smtpd: ServeTLS without a TLS config")
	}
	return s.serve(l, s.opts.TLSConfig)
}

// serve accepts connections on l, wrapping each in TLS when tc is set.
func (s *Server) serve(l net.Listener, tc *tls.Config) error {
	if !s.addListener(l) {
		return ErrServerClosed
	}
	defer s.removeListener(l)
	var delay time.Duration
	for {
		c, err := l.Accept()
		if err == nil {
			delay = 0
			s.dispatch(c, tc)
			continue
		}
		if s.isClosed() {
			return nil
		}
		if errors.Is(err, net.ErrClosed) {
			return err
		}
		// Out of file descriptors and the like: wait and retry.
		delay = min(max(2*delay, 5*time.Millisecond), time.Second)
		s.log.Warn("smtp accept failed; retrying", "err", err,
			"delay", delay)
		time.Sleep(delay)
	}
}

// Close stops every listener and closes every connection, then waits
// for intake transactions in flight to finish their disk work.
func (s *Server) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return ErrServerClosed
	}
	s.closed = true
	var errs []error
	for l := range s.listeners {
		errs = append(errs, l.Close())
	}
	if s.gen != nil {
		s.gen.ln.Close()
		s.gen.secLn.Close()
	}
	conns := make([]*trackedConn, 0, len(s.conns))
	for c := range s.conns {
		conns = append(conns, c)
	}
	s.mu.Unlock()
	for _, c := range conns {
		c.Close()
	}
	s.busy.Wait()
	return errors.Join(errs...)
}

func (s *Server) addListener(l net.Listener) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	s.listeners[l] = true
	return true
}

func (s *Server) removeListener(l net.Listener) {
	s.mu.Lock()
	delete(s.listeners, l)
	s.mu.Unlock()
}

func (s *Server) isClosed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closed
}

// dispatch hands a new connection to the go-smtp server of the current
// snapshot.
func (s *Server) dispatch(c net.Conn, tlsConfig *tls.Config) {
	tc, busy := s.track(c)
	if busy {
		s.log.Warn("connection refused: too many from one address",
			"remote", remoteAddr(c), "limit", maxConnsPerAddr)
		go refuseBusy(c) // a slow reader must not hold up Accept
		return
	}
	if tc == nil {
		c.Close()
		return
	}
	// The TLS is ours, beneath go-smtp (tlsup.go).
	tc.rw = c
	if tlsConfig != nil {
		t := tls.Server(c, tlsConfig)
		tc.rw, tc.tlsConn = t, t
		tc.stage.Store(stageSecure)
		// The handshake runs in go-smtp's first write, its banner;
		// go-smtp sets its own deadlines after that.
		c.SetDeadline(time.Now().Add(tlsHandshakeTimeout))
	} else {
		tc.starttls = s.opts.TLSConfig
	}
	for {
		gen := s.current()
		if gen == nil {
			tc.Close()
			return
		}
		ln := gen.ln
		if tlsConfig != nil {
			ln = gen.secLn
		}
		if ln.Push(tc) {
			return
		}
		// The snapshot changed between current and push: retry.
	}
}

// track registers c; nil means the server is closed, busy that c's
// address holds maxConnsPerAddr connections already.
func (s *Server) track(c net.Conn) (tc *trackedConn, busy bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, false
	}
	ip := remoteAddr(c)
	exempt := ip.IsLoopback() && s.tune.exemptLoopback
	if !exempt && s.perAddr[ip] >= maxConnsPerAddr {
		return nil, true
	}
	s.perAddr[ip]++
	n := s.connSeq.Add(1)
	tc = &trackedConn{Conn: c, id: fmt.Sprintf("s%d", n), srv: s, ip: ip}
	tc.log = s.log.With("conn", tc.id, "remote", ip.String())
	if s.opts.Submission {
		tc.log = tc.log.With("service", "submission")
	}
	s.conns[tc] = true
	return tc, false
}

func (s *Server) untrack(tc *trackedConn) {
	s.mu.Lock()
	delete(s.conns, tc)
	if s.perAddr[tc.ip]--; s.perAddr[tc.ip] <= 0 {
		delete(s.perAddr, tc.ip)
	}
	s.mu.Unlock()
}

// current returns the generation of the current configuration snapshot,
// starting a new one when the snapshot has changed; nil after Close.
func (s *Server) current() *generation {
	cfg := s.opts.Config()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	if s.gen != nil && s.gen.cfg == cfg {
		return s.gen
	}
	if s.gen != nil {
		// Its connections keep running; it only stops accepting.
		s.gen.ln.Close()
		s.gen.secLn.Close()
	}
	s.gen = s.newGeneration(cfg)
	go s.gen.srv.Serve(s.gen.ln)
	go s.gen.sec.Serve(s.gen.secLn)
	return s.gen
}

// newGeneration configures the go-smtp servers of one snapshot.
func (s *Server) newGeneration(cfg *conf.Config) *generation {
	g := &generation{cfg: cfg, ln: chanln.New(chanln.Addr("smtpd")),
		secLn: chanln.New(chanln.Addr("smtpd"))}
	g.srv = s.newSMTPServer(cfg)
	g.srv.TLSConfig = s.opts.TLSConfig // STARTTLS, done in tlsup.go
	if s.opts.Submission {
		// Only loopback listeners may have it (conf checks).
		g.srv.AllowInsecureAuth = cfg.Submission.AllowInsecureAuth
	}
	// The secure server's connections are in TLS already: no
	// STARTTLS, and AUTH is allowed.
	g.sec = s.newSMTPServer(cfg)
	g.sec.AllowInsecureAuth = true
	return g
}

// newSMTPServer configures a go-smtp server from one snapshot.
func (s *Server) newSMTPServer(cfg *conf.Config) *smtp.Server {
	srv := smtp.NewServer(&backend{srv: s, cfg: cfg})
	// TODO: go-smtp opens its EHLO reply with "Hello <client name>",
	// not our hostname as RFC 5321 §4.1.1.1 wants; only the banner
	// carries it. Clients do not parse that line.
	srv.Domain = cfg.Server.Hostname
	srv.MaxLineLength = MaxLineLength
	// TODO: go-smtp refuses a body of exactly MaxMessageBytes (its
	// reader fails once the limit is reached, even at the end). It
	// answers SIZE= refusals itself: they reach our log through the
	// reply tap (wire.go).
	srv.MaxMessageBytes = cfg.Server.MaxMessageSize
	// go-smtp would refuse recipients over the limit before our
	// Session sees them, and they would be missing from the log;
	// Rcpt enforces max_recipients instead.
	srv.MaxRecipients = 0
	srv.EnableSMTPUTF8 = true
	srv.ReadTimeout = s.tune.readTimeout
	srv.WriteTimeout = s.tune.writeTimeout
	srv.ErrorLog = errorLog{s.log}
	return srv
}

// enter registers an intake transaction; false after Close.
func (s *Server) enter() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	s.busy.Add(1)
	return true
}

// leave ends what enter began.
func (s *Server) leave() { s.busy.Done() }

// errorLog passes go-smtp's internal errors and recovered panics to
// slog.
type errorLog struct{ log *slog.Logger }

func (e errorLog) Printf(format string, v ...any) {
	e.print(fmt.Sprintf(format, v...))
}

func (e errorLog) Println(v ...any) {
	e.print(strings.TrimSuffix(fmt.Sprintln(v...), "\n"))
}

// print logs a panic as an error, anything else (a failed TLS
// handshake, a reset connection) as a warning.
func (e errorLog) print(msg string) {
	if strings.HasPrefix(msg, "panic") {
		e.log.Error("smtp: " + msg)
		return
	}
	e.log.Warn("smtp: " + msg)
}
