package main

import (
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"net"
	"net/mail"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/emersion/go-smtp"
)

// The sink is a stand-in primary for trials and demos: it accepts every
// message, prints one line for each and can keep them in a folder. It is
// no part of the mail path.

func runSink(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("sink", "-listen ADDR [-dir FOLDER]", "Accept all "+
		"mail on ADDR and print a line per message: a stand-in primary\n"+
		"for trying StrataMail out. Never expose it beyond loopback.",
		stderr)
	listen := fs.String("listen", "127.0.0.1:2526", "the `address`")
	dir := fs.String("dir", "", "keep each message as a file in this "+
		"`folder`")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *dir != "" {
		if err := os.MkdirAll(*dir, 0o700); err != nil {
			return err
		}
	}
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		return err
	}
	be := &sinkBackend{out: stdout, dir: *dir}
	srv := smtp.NewServer(be)
	srv.Domain = "sink.localhost"
	srv.ReadTimeout = time.Minute
	srv.WriteTimeout = time.Minute
	srv.MaxLineLength = 1 << 16
	fmt.Fprintf(stdout, "sink: accepting all mail on %s\n", ln.Addr())
	ctx, stop := signal.NotifyContext(context.Background(),
		os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() { <-ctx.Done(); srv.Close() }()
	err = srv.Serve(ln)
	if ctx.Err() != nil {
		return nil
	}
	return err
}

type sinkBackend struct {
	mu  sync.Mutex
	out io.Writer
	dir string
	n   atomic.Int64
}

func (b *sinkBackend) NewSession(*smtp.Conn) (smtp.Session, error) {
	return &sinkSession{be: b}, nil
}

type sinkSession struct {
	be   *sinkBackend
	from string
	to   []string
}

func (s *sinkSession) Mail(from string, _ *smtp.MailOptions) error {
	s.from = from
	return nil
}

func (s *sinkSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	s.to = append(s.to, to)
	return nil
}

func (s *sinkSession) Data(r io.Reader) error {
	body, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	n := s.be.n.Add(1)
	subject := ""
	if m, err := mail.ReadMessage(strings.NewReader(string(body))); err == nil {
		subject = m.Header.Get("Subject")
	}
	s.be.mu.Lock()
	fmt.Fprintf(s.be.out, "sink: #%d from=<%s> to=%s size=%d "+
		"sha256=%.12x subject=%q\n", n, s.from, strings.Join(s.to, ","),
		len(body), sha256.Sum256(body), subject)
	s.be.mu.Unlock()
	if s.be.dir != "" {
		name := filepath.Join(s.be.dir, fmt.Sprintf("%06d.eml", n))
		return os.WriteFile(name, body, 0o600)
	}
	return nil
}

func (s *sinkSession) Reset()        { s.from, s.to = "", nil }
func (s *sinkSession) Logout() error { return nil }
