package conf

import (
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/BurntSushi/toml"
)

// Load reads the configuration file at path and returns its validated
// snapshot. A file that cannot be read gives the error of os.ReadFile;
// an invalid one gives Errors, with every problem found.
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return Parse(path, data)
}

// Parse decodes and validates data, a configuration file named name,
// which the errors and Config.Path carry. It returns either a complete
// snapshot or nil and Errors: never a half-built Config.
func Parse(name string, data []byte) (*Config, error) {
	var doc map[string]any
	if _, err := toml.Decode(string(data), &doc); err != nil {
		return nil, Errors{syntaxError(name, err)}
	}
	p := &parser{file: name, lines: scanLines(string(data))}
	c := p.config(doc)
	if len(p.errs) > 0 {
		sortErrors(p.errs)
		return nil, p.errs
	}
	sortErrors(p.warns)
	c.Path, c.Warnings = name, p.warns
	return c, nil
}

// syntaxError turns the decoder's error into an *Error.
func syntaxError(name string, err error) error {
	var pe toml.ParseError
	if errors.As(err, &pe) {
		return &Error{File: name, Line: pe.Position.Line,
			Msg: "syntax error: " + pe.Message}
	}
	return &Error{File: name, Msg: err.Error()}
}

// parser builds a Config from a decoded document, collecting errors.
//
// The document is decoded into maps, not structs: BurntSushi/toml
// matches struct fields ignoring case (Data_Dir would fill data_dir,
// unseen by MetaData.Undecoded) and stops at the first value of a wrong
// type, while conf wants every problem, each with its line. So the
// schema below is checked by hand, key by key.
type parser struct {
	file  string
	lines keyLines
	errs  Errors
	warns Errors // see Config.Warnings
}

// errorf records a problem with the key at path.
func (p *parser) errorf(path, format string, args ...any) {
	p.errs = append(p.errs, p.problem(path, format, args...))
}

// warnf records a warning about the key at path.
func (p *parser) warnf(path, format string, args ...any) {
	p.warns = append(p.warns, p.problem(path, format, args...))
}

// problem returns an *Error about the key at path.
func (p *parser) problem(path, format string, args ...any) *Error {
	return &Error{File: p.file, Line: p.lines.line(path), Key: path,
		Msg: fmt.Sprintf(format, args...)}
}

// The top-level tables and the keys each one takes.
var schema = map[string][]string{
	"server": {"hostname", "data_dir", "retry_interval",
		"probe_interval", "max_message_size", "max_recipients",
		"postmaster", "delay_warning", "relay_connections",
		"relay_connect_timeout",
		"relay_command_timeout", "relay_data_timeout"},
	"smtp": {"listen", "accept_from"},
	"imap": {"listen", "tls_listen", "allow_insecure_auth"},
	"tls":  {"cert", "key"},
	"domain": {"name", "mode", "relay", "monitor", "accept_from",
		"queue_lifetime", "retry_interval"},
	"user":    {"address", "password", "aliases"},
	"monitor": {"down_after", "up_after"},
	"alerts":  {"email", "from", "webhook"},
	"submission": {"listen", "tls_listen", "allow_insecure_auth",
		"max_messages_per_hour"},
	"outbound": {"smarthost", "username", "password", "require_tls",
		"queue_lifetime"},
	"portal":   {"listen", "metrics_public"},
	"operator": {"name", "password"},
}

// config checks each table of doc in turn.
func (p *parser) config(doc map[string]any) *Config {
	p.unknownKeys("", doc, tableNames())
	c := &Config{}
	if t := p.table(doc, "server"); t != nil || doc["server"] == nil {
		c.Server = p.server(t)
	}
	c.SMTP = p.smtp(p.table(doc, "smtp"))
	c.IMAP = p.imap(p.table(doc, "imap"), c.SMTP.Listen)
	c.TLS = p.tls(p.table(doc, "tls"))
	p.imapLogins(c, doc["imap"])
	if len(c.IMAP.TLSListen) > 0 && c.TLS.Cert == "" {
		p.errorf("imap.tls_listen", "needs a certificate: set cert and "+
			"key in [tls]")
	}
	c.Monitor = p.monitor(p.table(doc, "monitor"))
	c.Alerts = p.alerts(p.table(doc, "alerts"), c.Server.Hostname)
	c.Submission = p.submission(p.table(doc, "submission"), c)
	c.Outbound = p.outbound(p.table(doc, "outbound"), c)
	p.domains(c, p.array(doc, "domain"))
	p.users(c, p.array(doc, "user"))
	server, _ := doc["server"].(map[string]any) // checked above
	p.postmaster(c, server)
	_, on := doc["portal"]
	c.Portal = p.portal(c, p.table(doc, "portal"),
		p.array(doc, "operator"), on)
	return c
}

func tableNames() []string {
	names := make([]string, 0, len(schema))
	for n := range schema {
		names = append(names, n)
	}
	return names
}

// errBadNetwork is parseNetwork's error; the message is the caller's.
var errBadNetwork = errors.New("bad network")

// Defaults of the keys that may be left out.
const (
	// DefaultRetryInterval is server.retry_interval's default.
	DefaultRetryInterval = 5 * time.Minute
	// DefaultProbeInterval is server.probe_interval's default.
	DefaultProbeInterval = 60 * time.Second
	// DefaultMaxMessageSize is server.max_message_size's: 25MiB.
	DefaultMaxMessageSize = 25 << 20
	// DefaultMaxRecipients is server.max_recipients's default, the
	// least RFC 5321 §4.5.3.1.8 lets a server accept.
	DefaultMaxRecipients = 100
	// DefaultRelayConnections is server.relay_connections's default.
	DefaultRelayConnections = 4
	// DefaultSMTPListen is the one address of smtp.listen's default.
	DefaultSMTPListen = "0.0.0.0:25"
	// DefaultIMAPListen is the one address of imap.listen's default.
	DefaultIMAPListen = "0.0.0.0:143"
)
