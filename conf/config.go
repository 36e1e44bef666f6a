// Package conf owns StrataMail's configuration: one TOML file, decoded,
// validated and turned into an immutable snapshot.
//
// A *Config is never modified after Load returns it. A reload builds a new
// snapshot and swaps it in whole; every other package reads the snapshot it
// was handed and never writes to it. conf imports none of our other
// packages, opens no sockets and creates no files.
//
// Load reports every problem of a file at once, each on a line of its
// own as FILE:LINE: KEY: what is wrong, where KEY is a path such as
// domain[1].mode (arrays counted from 0). Unknown keys are errors.
package conf

import (
	"crypto/tls"
	"time"
)

// Mode is a domain's delivery mode: what happens to mail accepted for it.
type Mode string

// The delivery modes.
const (
	// ModeBoth stores mail in the user's shadow mailbox and queues it
	// for the primary.
	ModeBoth Mode = "both"
	// ModeRelay only queues mail for the primary.
	ModeRelay Mode = "relay"
	// ModeLocal only stores mail in the user's shadow mailbox.
	ModeLocal Mode = "local"
)

// Stores reports whether mail for the mode goes into shadow mailboxes.
func (m Mode) Stores() bool { return m == ModeBoth || m == ModeLocal }

// Relays reports whether mail for the mode is queued for the primary.
func (m Mode) Relays() bool { return m == ModeBoth || m == ModeRelay }

// Config is a validated configuration snapshot.
type Config struct {
	// Path is the file the snapshot was read from.
	Path string

	Server Server
	SMTP   SMTP
	IMAP   IMAP
	TLS    TLS
	// Monitor and Alerts configure the monitoring of primaries.
	Monitor Monitor
	Alerts  Alerts
	// Portal is the operators' web portal and its logins.
	Portal Portal

	Submission Submission
	Outbound   Outbound

	// Domains and Users are in file order.
	Domains []*Domain
	Users   []*User

	// Warnings are what the file allows but probably does not mean,
	// in file order: the server runs with them, and check-config and
	// serve show them.
	Warnings Errors

	domains map[string]*Domain // lower-case name → domain
	addrs   map[string]*User   // lower-case address or alias → user
	users   map[string]*User   // lower-case address → user (logins)
}

// Server holds the [server] table.
type Server struct {
	// Hostname names this server in the SMTP banner, EHLO and
	// Received headers.
	Hostname string
	// DataDir holds the shadow mailboxes, the relay queue and state.
	DataDir string
	// RetryInterval is the time between delivery attempts to a primary.
	RetryInterval time.Duration
	// ProbeInterval is the time between the monitor's probes of each
	// monitored primary, and between the watcher's probes of a down
	// primary with mail waiting.
	ProbeInterval time.Duration
	// MaxMessageSize is the largest message accepted, in bytes.
	MaxMessageSize int64
	// MaxRecipients is the most recipients accepted per message.
	MaxRecipients int
	// Postmaster is the address mail to the bare <postmaster> goes to
	// (RFC 5321 §4.5.1), one of our domains; "" refuses it.
	Postmaster string
	// DelayWarning is how long a message waits in the queue before
	// its sender is told it is delayed; 0 (the default) never.
	DelayWarning time.Duration
	// RelayConnections is the most connections the queue opens at
	// once to one primary (or outbound destination) while it keeps up.
	RelayConnections int
	// RelayConnectTimeout, RelayCommandTimeout and RelayDataTimeout
	// bound connecting to a primary or an outbound host, waiting for
	// each reply, and each write of a message; 0 means relayq's
	// defaults.
	RelayConnectTimeout time.Duration
	RelayCommandTimeout time.Duration
	RelayDataTimeout    time.Duration
}

// SMTP holds the [smtp] table: the inbound (port 25) listener.
type SMTP struct {
	// Listen is the host:port addresses to accept SMTP on; never
	// empty.
	Listen []string
	// AcceptFrom is the client networks allowed to deliver mail for
	// domains that set no accept_from of their own; empty: anywhere.
	AcceptFrom Networks
}

// IMAP holds the [imap] table.
type IMAP struct {
	// Listen is the host:port addresses to serve IMAP on; empty
	// when IMAP is off.
	Listen []string
	// TLSListen is the host:port addresses with implicit TLS (port
	// 993, RFC 8314); they need [tls].
	TLSListen []string
	// AllowInsecureAuth permits LOGIN without TLS. Load refuses it
	// unless every IMAP listener is on a loopback address.
	AllowInsecureAuth bool
}

// TLS holds the [tls] table: the certificate offered by STARTTLS.
// Both fields are empty when TLS is not configured.
type TLS struct {
	Cert string
	Key  string
	// Certificate is the pair, loaded from Cert and Key with the
	// file; nil when TLS is not configured (or, in a configuration
	// that is refused, when the pair did not load).
	Certificate *tls.Certificate
}

// Domain is one [[domain]] entry: a customer domain we accept mail for.
type Domain struct {
	// Name is the domain, lower case, without a trailing dot.
	Name string
	Mode Mode
	// Relay is the primary's host:port; it may be empty in mode
	// local.
	Relay string
	// Monitor enables the monitor's probes of the relay host: history,
	// uptime and alerts ([monitor], [alerts]).
	Monitor bool
	// AcceptFrom is the client networks allowed to deliver mail for
	// the domain (its spam filter's); nil when the entry sets none,
	// and [smtp] accept_from applies. Use Config.AcceptsFrom.
	AcceptFrom Networks
	// QueueLifetime is how long mail for the primary is retried
	// before it is returned to its senders.
	QueueLifetime time.Duration
	// RetryInterval is the time between attempts to reach the
	// primary; server.retry_interval unless the entry sets one.
	RetryInterval time.Duration
}

// User is one [[user]] entry: a shadow mailbox and its login.
type User struct {
	// Address is the login name and the mailbox, lower case.
	Address string
	// PasswordHash is a bcrypt or $argon2id$ hash.
	PasswordHash string
	// Aliases are other addresses delivered to this user, lower case.
	// They are not login names.
	Aliases []string
	// Domain is the user's domain entry.
	Domain *Domain
}
