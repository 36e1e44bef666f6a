// Package imapd is StrataMail's IMAP server: it lets users read the
// shadow mailboxes in store over IMAP4rev1 (RFC 3501), with UIDPLUS,
// MOVE, NAMESPACE, SPECIAL-USE, CHILDREN, UNSELECT and IDLE, built on
// go-imap v2's imapserver, and SORT (RFC 5256), which imapserver lacks
// (sortwire.go).
//
// imapd owns the IMAP view of a mailbox: sequence numbers, session
// updates, flag mapping, FETCH and SEARCH. It never delivers or relays
// mail and never touches message files except through store, and it
// reads users from the configuration snapshot it is handed, never
// writing it.
//
// Folder hierarchy: the delimiter is '.', as Dovecot's default namespace
// over Maildir++ uses, in one personal namespace with an empty prefix.
package imapd

import (
	"crypto/tls"
	"errors"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver"

	"github.com/stratamail/continuity/conf"
	"github.com/stratamail/continuity/internal/authlimit"
	"github.com/stratamail/continuity/internal/chanln"
	"github.com/stratamail/continuity/store"
)

// Options configures a Server.
type Options struct {
	// Store holds the shadow mailboxes.
	Store *store.Store
	// Config returns the current configuration snapshot; each
	// connection takes the one current when it starts.
	Config func() *conf.Config
	// Logger receives one line per login and the server's errors.
	Logger *slog.Logger
	// TLSConfig enables STARTTLS when set.
	TLSConfig *tls.Config
	// InsecureAuth allows LOGIN without TLS; only for loopback
	// listeners (a same-host Roundcube).
	InsecureAuth bool
	// Now and Sleep are the login limits' clock; tests replace them.
	// Default time.Now and time.Sleep.
	Now   func() time.Time
	Sleep func(time.Duration)
	// CountLoopback holds loopback clients to the per-address
	// connection limit too (tests; in service a same-host webmail is
	// exempt).
	CountLoopback bool
	// FreeDisk returns the bytes free under a folder, -1 if unknown;
	// default a statfs. Tests replace it.
	FreeDisk func(dir string) int64
	// IdlePoll is how often an IDLE session looks for new mail
	// delivered behind its back even when no change was signalled
	// (idlewatch.go); 0 means 30 seconds.
	IdlePoll time.Duration
}

// Server is an IMAP server over the shadow mailboxes.
type Server struct {
	opts Options
	log  *slog.Logger
	imap *imapserver.Server
	// imapTLS serves connections with implicit TLS (ServeTLS), which
	// the guard reads above TLS; see ServeTLS.
	imapTLS *imapserver.Server
	// handOffLn feeds imapTLS the connections whose STARTTLS the
	// guard did (starttls.go).
	handOffMu sync.Mutex
	handOffUp bool // imapTLS serves handOffLn
	handOffLn *chanln.Listener
	connID    atomic.Uint64
	stats     counters
	auth      *authlimit.Limiter
	// webmailAuth counts the failed logins of each user through a
	// webmail on this host that names its browsers (idwire.go), all
	// browsers together, with the per-address policy's looser limit.
	webmailAuth *authlimit.Limiter
	idle        idleWatch
	warmed      sync.Map // addresses whose INBOX warmInbox has read
	warming     sync.WaitGroup
	closing     atomic.Bool
}

func (s *Server) now() time.Time { return s.opts.Now() }

func (s *Server) sleep(d time.Duration) {
	if d > 0 {
		s.opts.Sleep(d)
	}
}

// caps are the capabilities we implement completely. imapserver adds
// SASL-IR, LITERAL-, ENABLE, IDLE, UNSELECT, UTF8=ACCEPT and AUTH=PLAIN
// itself. LITERAL+ is never offered: beta.8 mishandles an oversized
// non-synchronising literal (see DEPENDENCIES.md); under LITERAL- one
// over 4096 bytes ends the connection (guardConn), so its bytes are
// never run as commands. SORT is added on the wire by the guard
// (sortwire.go), on the connections it rewrites.
var caps = imap.CapSet{
	imap.CapIMAP4rev1:  {},
	imap.CapUIDPlus:    {},
	imap.CapMove:       {},
	imap.CapNamespace:  {},
	imap.CapSpecialUse: {},
	imap.CapChildren:   {},
}

// New returns a server; call Serve to accept connections.
func New(opts Options) *Server {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.IdlePoll <= 0 {
		opts.IdlePoll = 30 * time.Second
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Sleep == nil {
		opts.Sleep = time.Sleep
	}
	if opts.FreeDisk == nil {
		opts.FreeDisk = store.FreeDisk
	}
	s := &Server{opts: opts, log: opts.Logger,
		auth:        authlimit.New(authlimit.PerUser, authlimit.PerAddr),
		webmailAuth: authlimit.New(authlimit.PerAddr, authlimit.PerAddr),
		handOffLn:   chanln.New(chanln.Addr("imapd-starttls"))}
	s.idle.log = opts.Logger
	logger := goImapLog{opts.Logger}
	s.imap = imapserver.New(&imapserver.Options{
		NewSession:   s.newSession,
		Caps:         caps,
		Logger:       logger,
		TLSConfig:    opts.TLSConfig,
		InsecureAuth: opts.InsecureAuth,
	})
	s.imapTLS = imapserver.New(&imapserver.Options{
		NewSession:   s.newSession,
		Caps:         caps,
		Logger:       logger,
		InsecureAuth: true, // the connection is TLS already
	})
	return s
}

// Serve accepts IMAP connections on l until Close. Each connection is
// guarded (see guardListener), and its STARTTLS is the guard's.
func (s *Server) Serve(l net.Listener) error {
	return s.imap.Serve(guardListener{
		Listener: newLimitListener(l, !s.opts.CountLoopback),
		up:       s.startTLSUp(),
	})
}

// ServeTLS accepts IMAP connections with implicit TLS (RFC 8314, port
// 993) on l until Close. The TLS handshake is ours, with TLSConfig, and
// the guard reads the plain text above it, so these connections have
// everything a plain one has (SORT, the literal and empty-line guards).
// imapserver then sees a connection that is not a *tls.Conn, so it is
// served by a second imapserver.Server that allows LOGIN on it and
// offers no STARTTLS.
func (s *Server) ServeTLS(l net.Listener) error {
	if s.opts.TLSConfig == nil {
		return errors.New("imapd: ServeTLS without a TLS config")
	}
	return s.imapTLS.Serve(tlsGuardListener{
		Listener: newLimitListener(l, !s.opts.CountLoopback),
		config:   s.opts.TLSConfig,
	})
}

// Close stops the listeners and closes every connection.
func (s *Server) Close() error {
	s.closing.Store(true)
	s.idle.close()
	s.handOffMu.Lock()
	up := s.handOffUp
	s.handOffMu.Unlock()
	if up {
		// imapserver's Close must not run before its Serve accepts.
		<-s.handOffLn.Accepting()
	}
	s.handOffLn.Close()
	err := errors.Join(s.imap.Close(), s.imapTLS.Close())
	s.warming.Wait()
	return err
}

// newSession starts the session of one connection.
func (s *Server) newSession(c *imapserver.Conn) (imapserver.Session,
	*imapserver.GreetingData, error) {
	sess := &session{
		srv:    s,
		id:     s.connID.Add(1),
		remote: c.NetConn().RemoteAddr().String(),
		ip:     remoteIP(c.NetConn().RemoteAddr()),
		cfg:    s.opts.Config(),
	}
	if sess.guard, _ = c.NetConn().(*guardConn); sess.guard != nil {
		sess.guard.badArgs = sess.badArguments
	}
	s.stats.sessions.Add(1) // until Close
	return sess, nil, nil
}

// warmInbox reads the INBOX of address into memory in the background,
// once per process, while its password is being checked: after a
// restart the first SELECT of a large folder (Roundcube selects INBOX
// right after LOGIN) then finds it read. It reports false, so that it
// can sit in a condition. Nothing is created (a Maildir not there yet
// is left alone), and the answer to the login does not wait; Close
// waits for it.
func (s *Server) warmInbox(address string) bool {
	if _, done := s.warmed.LoadOrStore(address, true); done ||
		s.closing.Load() {
		return false
	}
	root, err := s.opts.Store.MaildirPath(address)
	if err != nil {
		return false
	}
	if _, err := os.Stat(root); err != nil {
		return false
	}
	s.warming.Go(func() {
		acct, err := s.opts.Store.Account(address)
		if err != nil {
			return
		}
		if f, err := acct.Folder("INBOX"); err == nil {
			f.Locked(func(*store.View) error { return nil })
		}
	})
	return false
}

// remoteIP returns the IP address of a TCP peer; the zero Addr
// otherwise.
func remoteIP(a net.Addr) netip.Addr {
	if ta, ok := a.(*net.TCPAddr); ok {
		ip, _ := netip.AddrFromSlice(ta.IP)
		return ip.Unmap()
	}
	return netip.Addr{}
}
