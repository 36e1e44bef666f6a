package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/fsnotify/fsnotify"

	"github.com/stratamail/continuity/conf"
	"github.com/stratamail/continuity/imapd"
	"github.com/stratamail/continuity/monitor"
	"github.com/stratamail/continuity/portal"
	"github.com/stratamail/continuity/relayq"
	"github.com/stratamail/continuity/smtpd"
	"github.com/stratamail/continuity/store"
)

const defaultConfig = "/etc/stratamail/stratamail.toml"

func runServe(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("serve", "[-config FILE]", "Run the mail service: "+
		"SMTP intake and submission, IMAP, the relay queue,\nthe "+
		"monitoring of primaries and the portal. The config file is "+
		"reloaded when\nit changes, and on SIGHUP; SIGINT or SIGTERM "+
		"stops the service.", stderr)
	path := fs.String("config", defaultConfig, "the config `file`")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	cfg, err := conf.Load(*path)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return errors.New("not starting: the configuration is not valid")
	}
	log := slog.New(slog.NewTextHandler(stderr, nil))
	logWarnings(log, cfg)
	ctx, stop := signal.NotifyContext(context.Background(),
		os.Interrupt, syscall.SIGTERM)
	defer stop()
	svc, err := startService(cfg, log)
	if err != nil {
		return err
	}
	return svc.run(ctx)
}

// service is a running StrataMail: the parts wired together around one
// configuration snapshot, swapped whole on reload.
type service struct {
	cfg   atomic.Pointer[conf.Config]
	log   *slog.Logger
	store *store.Store
	queue *relayq.Queue
	mon   *monitor.Monitor
	smtp  *smtpd.Server
	sub   *smtpd.Server // the submission service
	imap  *imapd.Server
	ctl   *controlServer
	// portal is nil unless [portal] is on.
	portal   *portal.Server
	portalLn net.Listener

	reloads reloadState
	watcher *fsnotify.Watcher // nil if the system refused one

	smtpLn    []net.Listener
	imapLn    []net.Listener
	subLn     []net.Listener // submission with STARTTLS
	subTLSLn  []net.Listener // submission with implicit TLS
	imapTLSLn []net.Listener // IMAP with implicit TLS
}

// startService opens the data directory and binds every listener. It
// fails whole: nothing keeps running after an error.
func startService(cfg *conf.Config, log *slog.Logger) (*service, error) {
	s := &service{log: log}
	s.cfg.Store(cfg)
	s.reloads.loaded = time.Now()
	ok := false
	defer func() {
		if !ok {
			s.closeListeners()
		}
	}()

	// The data directory: mail, spool and queue on one filesystem.
	var err error
	if s.store, err = store.Open(cfg.Server.DataDir); err != nil {
		return nil, err
	}
	if s.store.Swept > 0 {
		log.Info("removed the intake leftovers of an earlier run",
			"files", s.store.Swept)
	}
	qdir := filepath.Join(cfg.Server.DataDir, "queue")
	s.queue, err = relayq.Open(qdir, relayq.Options{
		Config: s.config,
		Logger: log,
		Store:  s.store, // DSNs of the outbound route
	})
	if err != nil {
		return nil, err
	}
	err = store.SameFilesystem(s.store.SpoolDir(), qdir)
	if err != nil {
		return nil, err
	}
	s.mon, err = newMonitor(cfg.Server.DataDir, s.config, s.store, s.queue,
		log)
	if err != nil {
		return nil, err
	}

	// Bind every listener before serving on any of them.
	if s.smtpLn, err = listenAll(cfg.SMTP.Listen); err != nil {
		return nil, err
	}
	if s.imapLn, err = listenAll(cfg.IMAP.Listen); err != nil {
		return nil, err
	}
	if s.imapTLSLn, err = listenAll(cfg.IMAP.TLSListen); err != nil {
		return nil, err
	}
	if s.subLn, err = listenAll(cfg.Submission.Listen); err != nil {
		return nil, err
	}
	s.subTLSLn, err = listenAll(cfg.Submission.TLSListen)
	if err != nil {
		return nil, err
	}
	if s.ctl, err = listenControl(cfg.Server.DataDir, s); err != nil {
		return nil, err
	}
	if err = s.listenPortal(); err != nil {
		return nil, err
	}

	tlsConfig := s.tlsConfig()
	s.watcher = s.newWatcher() // from the start: no edit goes unseen
	s.smtp = smtpd.New(smtpd.Options{
		Store: s.store, Queue: s.queue, Config: s.config,
		Logger: log, TLSConfig: tlsConfig,
	})
	s.sub = smtpd.New(smtpd.Options{
		Store: s.store, Queue: s.queue, Config: s.config,
		Logger: log, TLSConfig: tlsConfig, Submission: true,
	})
	s.imap = imapd.New(imapd.Options{
		Store: s.store, Config: s.config, Logger: log,
		TLSConfig: tlsConfig, InsecureAuth: cfg.IMAP.AllowInsecureAuth,
	})
	if err = s.newPortal(log); err != nil {
		return nil, err
	}
	ok = true
	return s, nil
}

// config returns the current configuration snapshot.
func (s *service) config() *conf.Config { return s.cfg.Load() }

// tlsConfig returns the STARTTLS configuration, or nil without [tls].
// The certificate comes from the current snapshot at each handshake, so
// a reload with a renewed certificate serves it to new connections; a
// reload that drops [tls] keeps the last certificate until a restart.
func (s *service) tlsConfig() *tls.Config {
	last := s.config().TLS.Certificate
	if last == nil {
		return nil
	}
	return &tls.Config{
		GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate,
			error) {
			if c := s.config().TLS.Certificate; c != nil {
				return c, nil
			}
			return last, nil
		},
	}
}

func listenAll(addrs []string) ([]net.Listener, error) {
	var lns []net.Listener
	for _, a := range addrs {
		ln, err := net.Listen("tcp", a)
		if err != nil {
			for _, l := range lns {
				l.Close()
			}
			return nil, err
		}
		lns = append(lns, ln)
	}
	return lns, nil
}

func (s *service) closeListeners() {
	for _, l := range slices.Concat(s.smtpLn, s.imapLn, s.imapTLSLn,
		s.subLn, s.subTLSLn) {
		l.Close()
	}
	if s.ctl != nil {
		s.ctl.Close()
	}
	if s.portalLn != nil {
		s.portalLn.Close()
	}
}

// run serves until ctx is done, then shuts the parts down.
func (s *service) run(ctx context.Context) error {
	cfg := s.config()
	s.log.Info("stratamail started", "hostname", cfg.Server.Hostname,
		"data_dir", cfg.Server.DataDir, "smtp", addrs(s.smtpLn),
		"imap", addrs(s.imapLn), "imap_tls", addrs(s.imapTLSLn),
		"submission",
		addrs(slices.Concat(s.subLn, s.subTLSLn)),
		"portal", addrs(s.portalLns()),
		"domains", len(cfg.Domains),
		"users", len(cfg.Users))
	var wg sync.WaitGroup
	errc := make(chan error, len(s.smtpLn)+len(s.imapLn)+len(s.imapTLSLn)+
		len(s.subLn)+len(s.subTLSLn)+4)
	serve := func(f func() error) {
		wg.Go(func() { errc <- f() })
	}
	for _, l := range s.smtpLn {
		serve(func() error { return s.smtp.Serve(l) })
	}
	for _, l := range s.imapLn {
		serve(func() error { return s.imap.Serve(l) })
	}
	for _, l := range s.imapTLSLn {
		serve(func() error { return s.imap.ServeTLS(l) })
	}
	for _, l := range s.subLn {
		serve(func() error { return s.sub.Serve(l) })
	}
	for _, l := range s.subTLSLn {
		serve(func() error { return s.sub.ServeTLS(l) })
	}
	qctx, cancel := context.WithCancel(ctx)
	defer cancel()
	serve(func() error { return s.queue.Run(qctx) })
	serve(func() error { return s.mon.Run(qctx) })
	serve(s.ctl.Serve)
	if s.portal != nil {
		serve(s.servePortal)
	}
	wg.Go(func() { s.watchReloads(qctx, s.watcher) })

	var err error
	select {
	case <-ctx.Done():
	case err = <-errc:
		s.log.Error("a listener failed; stopping", "err", err)
	}
	s.shutdown(cancel)
	wg.Wait()
	s.log.Info("stratamail stopped")
	return err
}

func (s *service) shutdown(cancelQueue context.CancelFunc) {
	cancelQueue()
	s.smtp.Close()
	s.sub.Close()
	s.imap.Close()
	s.ctl.Close()
	if s.portal != nil {
		s.portal.Close()
	}
}

func addrs(lns []net.Listener) []string {
	var out []string
	for _, l := range lns {
		out = append(out, l.Addr().String())
	}
	return out
}
