// Package portal owns the operators' web portal: a login with
// sessions, the Queue Manager (list, inspect, flush, hold, release and
// delete queue entries per domain), the uptime page of each domain's
// primary, and /metrics in the Prometheus text format.
//
// portal reads the configuration snapshot it is handed on every
// request and never writes it. It acts on the queue only through the
// Queue interface and reads monitoring only through Monitor; it never
// reaches into the protocol packages, whose counters it gets from
// Options.Counters. Pages are html/template, embedded, with no
// JavaScript: every action is a form POST with a CSRF token.
package portal

import (
	"cmp"
	"crypto/tls"
	"embed"
	"errors"
	"html/template"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/stratamail/continuity/conf"
	"github.com/stratamail/continuity/internal/authlimit"
	"github.com/stratamail/continuity/monitor"
	"github.com/stratamail/continuity/relayq"
)

// Queue is what the portal needs of the relay queue; *relayq.Queue is
// one.
type Queue interface {
	List(domain string) ([]relayq.Entry, error)
	Flush(domain string)
	Retry(id string) error
	Hold(id string) error
	Release(id string) error
	Remove(id string) error
	Stats() relayq.Stats
}

// Monitor is what the portal needs of the monitoring of primaries;
// *monitor.Monitor is one.
type Monitor interface {
	Report(domain string, now time.Time) monitor.Report
	Timeline(domain string, from, now time.Time) []monitor.Span
}

// Counters are the protocol servers' counters for /metrics, as cmd
// gathers them from smtpd and imapd.
type Counters struct {
	// SMTPMessages counts SMTP transactions by how they ended.
	SMTPMessages map[string]uint64
	// SMTPRefused counts SMTP refusals by reason.
	SMTPRefused map[string]uint64
	// IMAPSessions is the number of IMAP connections open now.
	IMAPSessions int64
	// IMAPLogins counts IMAP logins by result.
	IMAPLogins map[string]uint64
}

// Defaults of Options.
const (
	DefaultSessionTTL = 8 * time.Hour
	DefaultFailDelay  = time.Second
)

// Options configures a Server. Config, Queue and Monitor are required.
type Options struct {
	// Config returns the current configuration snapshot: operators
	// and domains are read from it on every request.
	Config func() *conf.Config
	Queue  Queue
	// QueueDir is the queue's folder, where the detail view reads a
	// message's header section.
	QueueDir string
	Monitor  Monitor
	// Counters returns the protocol servers' counters; nil leaves
	// them out of /metrics.
	Counters func() Counters
	// Logger receives one line per event; default slog.Default().
	Logger *slog.Logger
	// Now is the clock; default time.Now.
	Now func() time.Time
	// SessionTTL is how long a login lasts; FailDelay is the wait
	// before the answer to a failed login.
	SessionTTL time.Duration
	FailDelay  time.Duration
	// Sleep waits out a failed login's delay; default time.Sleep.
	Sleep func(time.Duration)
}

// Server is the portal. Its methods are safe for concurrent use.
type Server struct {
	opts  Options
	log   *slog.Logger
	pages map[string]*template.Template
	mux   *http.ServeMux
	http  *http.Server

	auth *authlimit.Limiter // failed logins

	mu       sync.Mutex
	sessions map[string]*session // by token
}

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static/style.css
var styleCSS []byte

// New returns a portal; call Serve to run it, or use Handler.
func New(opts Options) (*Server, error) {
	if opts.Config == nil || opts.Queue == nil || opts.Monitor == nil {
		return nil, errors.New("portal: Config, Queue and Monitor " +
			"are required")
	}
	opts.Logger = cmp.Or(opts.Logger, slog.Default())
	if opts.Sleep == nil {
		opts.Sleep = time.Sleep
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	opts.SessionTTL = cmp.Or(opts.SessionTTL, DefaultSessionTTL)
	opts.FailDelay = cmp.Or(opts.FailDelay, DefaultFailDelay)
	pages, err := parsePages()
	if err != nil {
		return nil, err
	}
	s := &Server{opts: opts, log: opts.Logger, pages: pages,
		sessions: map[string]*session{},
		auth:     authlimit.New(authlimit.PerUser, authlimit.PerAddr)}
	s.routes()
	s.http = &http.Server{
		Handler:           s,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		ErrorLog: slog.NewLogLogger(opts.Logger.Handler(),
			slog.LevelWarn),
	}
	return s, nil
}

// routes registers the handlers.
func (s *Server) routes() {
	m := http.NewServeMux()
	m.HandleFunc("GET /style.css", s.style)
	m.HandleFunc("GET /login", s.loginPage)
	m.HandleFunc("POST /login", s.login)
	m.HandleFunc("POST /logout", s.authed(s.logout))
	m.HandleFunc("GET /metrics", s.metrics)
	m.HandleFunc("GET /{$}", s.authed(s.domainsPage))
	m.HandleFunc("GET /queue/{domain}", s.authed(s.queuePage))
	m.HandleFunc("GET /queue/{domain}/entry/{id}", s.authed(s.entryPage))
	m.HandleFunc("POST /queue/{domain}", s.authed(s.queueAction))
	m.HandleFunc("GET /uptime/{domain}", s.authed(s.uptimePage))
	s.mux = m
}

// ServeHTTP sets the headers every answer carries and dispatches.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !s.knownHost(r.Host) {
		// A page whose name was made to resolve to this address (DNS
		// rebinding) must not read the portal with the browser.
		http.Error(w, "unknown host name", http.StatusMisdirectedRequest)
		return
	}
	h := w.Header()
	h.Set("Content-Security-Policy", "default-src 'none'; "+
		"style-src 'self'; img-src 'self'; form-action 'self'; "+
		"frame-ancestors 'none'; base-uri 'none'")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	// same-origin, not no-referrer: with no-referrer Chromium sends
	// "Origin: null" on form POSTs, which sameOrigin refuses.
	h.Set("Referrer-Policy", "same-origin")
	h.Set("Cache-Control", "no-store")
	if r.TLS != nil {
		h.Set("Strict-Transport-Security", "max-age=31536000")
	}
	s.mux.ServeHTTP(w, r)
}

// Serve answers HTTP on l until Close; with tlsConfig non-nil it
// answers HTTPS only. It returns nil after Close.
func (s *Server) Serve(l net.Listener, tlsConfig *tls.Config) error {
	if tlsConfig != nil {
		l = tls.NewListener(l, tlsConfig)
	}
	err := s.http.Serve(l)
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}

// Close stops the listeners and closes every connection.
func (s *Server) Close() error { return s.http.Close() }

// style serves the stylesheet.
func (s *Server) style(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/css; charset=utf-8")
	w.Header().Set("Cache-Control", "max-age=3600")
	w.Write(styleCSS)
}

// now returns the portal's time.
func (s *Server) now() time.Time { return s.opts.Now() }

// knownHost reports whether host (the Host header) names this portal:
// an IP address, localhost, or the server's hostname, with any port.
func (s *Server) knownHost(host string) bool {
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	host = strings.Trim(host, "[]")
	if _, err := netip.ParseAddr(host); err == nil {
		return true
	}
	if strings.EqualFold(host, "localhost") {
		return true
	}
	cfg := s.opts.Config()
	return cfg != nil && strings.EqualFold(host, cfg.Server.Hostname)
}
