package main

import (
	"context"
	"crypto/rand"
	"errors"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"text/template"

	"github.com/stratamail/continuity/conf"
)

// demoConfig is the demo's configuration; the demo writes it into its
// data folder so the queue commands can be pointed at it.
const demoConfig = `# Written by "stratamail demo"; rewritten on every demo start.
[server]
hostname = "stratamail-demo.localhost"
data_dir = "{{.Dir}}"
retry_interval = "5m"
probe_interval = "5s"
max_message_size = "25MiB"

[smtp]
listen = ["{{.SMTP}}"]

[imap]
listen = ["{{.IMAP}}"]
allow_insecure_auth = true   # loopback only

[submission]
listen = ["{{.Submission}}"]
allow_insecure_auth = true   # loopback only

[outbound]
# The demo sink stands in for a provider's smarthost: mail to other
# domains goes there too.
smarthost = "{{.Relay}}"

[portal]
listen = "{{.Portal}}"

[[operator]]
name = "admin"
password = "{{.Admin.Hash}}"

[[domain]]
name = "example.test"
mode = "both"
relay = "{{.Relay}}"   # the primary: nothing listens here yet
monitor = true
{{range .Users}}
[[user]]
address = "{{.Address}}"
password = "{{.Hash}}"
{{- if .Alias}}
aliases = ["{{.Alias}}"]
{{- end}}
{{end}}`

type demoUser struct {
	Address, Alias, Password, Hash string
}

type demoSettings struct {
	Dir, SMTP, IMAP, Relay, Portal string
	Submission                     string
	Users                          []demoUser
	Admin                          demoUser
	Config                         string
}

func runDemo(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("demo", "[flags]", "Run the whole service on "+
		"loopback with a demo configuration: domain example.test\nin "+
		"both mode, two users with fresh passwords, and a primary "+
		"that is down, so mail queues.", stderr)
	d := demoSettings{}
	fs.StringVar(&d.Dir, "dir", filepath.Join(os.TempDir(),
		"stratamail-demo"), "the data `folder`")
	fs.StringVar(&d.SMTP, "smtp", "127.0.0.1:2525", "SMTP `address`")
	fs.StringVar(&d.IMAP, "imap", "127.0.0.1:1143", "IMAP `address`")
	fs.StringVar(&d.Submission, "submission", "127.0.0.1:2587",
		"submission `address`")
	fs.StringVar(&d.Relay, "relay", "127.0.0.1:2526",
		"the demo primary's `address`")
	fs.StringVar(&d.Portal, "portal", "127.0.0.1:8025",
		"the operators' portal `address`")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	cfg, err := writeDemoConfig(&d)
	if err != nil {
		return err
	}
	log := slog.New(slog.NewTextHandler(stderr, nil))
	svc, err := startService(cfg, log)
	if err != nil {
		return err
	}
	printDemoHelp(stdout, &d)
	ctx, stop := signal.NotifyContext(context.Background(),
		os.Interrupt, syscall.SIGTERM)
	defer stop()
	return svc.run(ctx)
}

// writeDemoConfig makes fresh passwords, writes the demo config file
// into d.Dir and loads it like any other.
func writeDemoConfig(d *demoSettings) (*conf.Config, error) {
	abs, err := filepath.Abs(d.Dir)
	if err != nil {
		return nil, err
	}
	d.Dir = abs
	if err := os.MkdirAll(d.Dir, 0o700); err != nil {
		return nil, err
	}
	d.Users = []demoUser{
		{Address: "alice@example.test", Alias: "sales@example.test"},
		{Address: "bob@example.test"},
	}
	d.Admin = demoUser{Address: "admin"}
	for _, u := range append(pointers(d.Users), &d.Admin) {
		u.Password = rand.Text()[:12]
		if u.Hash, err = conf.HashPassword(u.Password); err != nil {
			return nil, err
		}
	}
	var b strings.Builder
	tmpl := template.Must(template.New("demo").Parse(demoConfig))
	if err := tmpl.Execute(&b, d); err != nil {
		return nil, err
	}
	d.Config = filepath.Join(d.Dir, "stratamail.toml")
	if err := os.WriteFile(d.Config, []byte(b.String()), 0o600); err != nil {
		return nil, err
	}
	cfg, err := conf.Load(d.Config)
	if err != nil {
		return nil, errors.Join(errors.New("demo config"), err)
	}
	return cfg, nil
}

const demoHelp = `
StrataMail Continuity demo is running.

  data folder  {{.Dir}}
  config file  {{.Config}}
  SMTP         {{.SMTP}}   (no TLS; accepts mail for example.test)
  IMAP         {{.IMAP}}   (plain LOGIN allowed on loopback)
  submission   {{.Submission}}   (AUTH PLAIN/LOGIN without TLS on loopback)
  primary      {{.Relay}}   (down: nothing listens there yet)
  portal       http://{{.Portal}}/   (operator admin, password {{.Admin.Password}})
{{range .Users}}
  user {{.Address}}  password {{.Password}}
{{- if .Alias}}  (alias {{.Alias}}){{end}}
{{- end}}

1. Send a message (swaks, or Python's smtplib):
     swaks --server {{.SMTP}} --from someone@elsewhere.test --to {{(index .Users 0).Address}}
     python3 -c 'import smtplib; smtplib.SMTP("{{host .SMTP}}", {{port .SMTP}}).sendmail("someone@elsewhere.test", ["{{(index .Users 0).Address}}"], "Subject: hello\r\n\r\nDuring the outage.\r\n")'

2. Read it over IMAP (curl, or Python's imaplib):
     curl -u '{{(index .Users 0).Address}}:{{(index .Users 0).Password}}' 'imap://{{.IMAP}}/INBOX;UID=1'
     python3 -c 'import imaplib; m = imaplib.IMAP4("{{host .IMAP}}", {{port .IMAP}}); m.login("{{(index .Users 0).Address}}", "{{(index .Users 0).Password}}"); m.select(); print(m.fetch("1", "(BODY[])")[1][0][1].decode())'

3. The message also waits in the relay queue, since the primary is down:
     go run ./cmd/stratamail queue list -config {{.Config}}

4. Send as a user through submission (AUTH; the sender must be yours):
     swaks --server {{.Submission}} --auth LOGIN --auth-user {{(index .Users 0).Address}} --auth-password '{{(index .Users 0).Password}}' --from {{(index .Users 0).Address}} --to {{(index .Users 1).Address}},friend@elsewhere.test
   {{(index .Users 1).Address}} gets it at once; friend@elsewhere.test
   waits in the queue (route outbound) for the smarthost, the sink below.

5. Start a primary (a test sink that logs what it receives); within
   5 s the watcher sees it and the queue drains:
     go run ./cmd/stratamail sink -listen {{.Relay}}
   or ask for delivery at once:
     go run ./cmd/stratamail queue flush -config {{.Config}}

6. Watch it in the portal: log in at http://{{.Portal}}/ as admin, open
   example.test's queue (flush, hold, release, delete) or its uptime
   page; Prometheus metrics at http://{{.Portal}}/metrics.

Stop the demo with Ctrl-C. The log follows.
`

func printDemoHelp(w io.Writer, d *demoSettings) {
	funcs := template.FuncMap{
		"host": func(a string) string {
			h, _, _ := net.SplitHostPort(a)
			return h
		},
		"port": func(a string) string {
			_, p, _ := net.SplitHostPort(a)
			return p
		},
	}
	tmpl := template.Must(template.New("help").Funcs(funcs).
		Parse(demoHelp))
	tmpl.Execute(w, d)
}

// pointers returns pointers to the elements of us.
func pointers(us []demoUser) []*demoUser {
	out := make([]*demoUser, len(us))
	for i := range us {
		out[i] = &us[i]
	}
	return out
}
