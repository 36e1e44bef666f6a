package relayq

// The envelope record.
//
// Every queue entry is two files in the queue folder:
//
//	<id>.msg   the message, a hard link to the intake spool file; never
//	           written by relayq, never modified in place
//	<id>.env   the envelope record, described below
//
// The envelope record is one JSON object followed by a newline, written
// atomically: a temp file "<id>.env.tmp" in the same folder, fsync,
// rename over <id>.env, fsync the folder. An example, folded here:
//
//	{"version":1,"id":"18a6f0c2d3e4b5a6-9f8e7d6c","domain":"example.test",
//	 "relay":"mx.example.test:25","sender":"s@elsewhere.test",
//	 "recipients":[
//	  {"addr":"alice@example.test","state":"done","reply":"250 2.0.0 OK"},
//	  {"addr":"bob@example.test","state":"pending",
//	   "reply":"451 4.3.0 try later"},
//	  {"addr":"eve@example.test","state":"failed",
//	   "reply":"550 5.1.1 no such user"}],
//	 "arrived":"2025-01-02T03:04:05.123456789Z","attempts":1,
//	 "next_attempt":"2025-01-02T03:09:05Z","last_error":"451 4.3.0 ...",
//	 "held":false}
//
// Fields:
//
//   - version: the format version: 1 for an entry for a primary, 2 for
//     one on the outbound route. Version 2 only adds the route field;
//     a relay entry is still written as version 1, so an older
//     StrataMail can read the queue, and refuses (moves aside) only the
//     outbound entries it could not deliver. A reader refuses any
//     other version.
//   - route: "outbound" in version 2, absent in version 1: the entry
//     goes to the smarthost or to the domain's MX hosts, not to a
//     primary.
//   - id: the entry's ID, equal to the file name stem; [0-9a-z-], at
//     most 64 bytes, so that it is always one safe path component.
//   - domain: the customer domain (lower case) whose primary gets it;
//     on the outbound route, the recipients' domain.
//   - relay: the last relay host (host:port) known for the domain. The
//     configuration current at delivery time wins; this one is used only
//     when the domain has left the configuration.
//   - sender: the reverse-path; "" is the null sender (RFC 5321 §4.5.5).
//   - recipients: every forward-path of the message, in order, each with
//     its state: "pending" (still to deliver), "done" (accepted by the
//     primary) or "failed" (refused permanently), and the last reply.
//   - arrived, next_attempt: RFC 3339 times in UTC.
//   - attempts: delivery attempts made so far.
//   - last_error: the reply or error of the last failed attempt.
//   - held: set when no recipient is pending but some failed: the entry
//     waits for the operator and is not retried.
//
// Unknown fields are ignored, so a newer writer may add some without a
// version change. A record that does not parse or validate is corrupt:
// Open moves it and its message to the corrupt/ subfolder.

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/stratamail/continuity/store"
)

// The envelope record versions: formatVersion for entries for a
// primary, outboundVersion for entries on the outbound route.
const (
	formatVersion   = 1
	outboundVersion = 2
)

// routeOutbound is the route field of an outbound entry.
const routeOutbound = "outbound"

// File name suffixes in the queue folder.
const (
	msgSuffix = ".msg"
	envSuffix = ".env"
	tmpSuffix = ".tmp"
)

// maxRecord bounds the size of an envelope record read from disk.
const maxRecord = 1 << 20

// Recipient states.
const (
	statePending = "pending"
	stateDone    = "done"
	stateFailed  = "failed"
)

// rcpt is one recipient of an entry and its delivery state.
type rcpt struct {
	Addr  string `json:"addr"`
	State string `json:"state"`
	Reply string `json:"reply,omitempty"`
}

// envelope is the in-memory form of an envelope record.
type envelope struct {
	Version     int       `json:"version"`
	ID          string    `json:"id"`
	Route       string    `json:"route,omitempty"`
	Domain      string    `json:"domain"`
	Relay       string    `json:"relay,omitempty"`
	Sender      string    `json:"sender"`
	Rcpts       []rcpt    `json:"recipients"`
	Arrived     time.Time `json:"arrived"`
	Attempts    int       `json:"attempts"`
	NextAttempt time.Time `json:"next_attempt"`
	LastError   string    `json:"last_error,omitempty"`
	Held        bool      `json:"held,omitempty"`
	// Warned is set once the sender was told of the delay.
	Warned bool `json:"warned,omitempty"`
}

// clone returns a deep copy of e.
func (e *envelope) clone() *envelope {
	c := *e
	c.Rcpts = append([]rcpt(nil), e.Rcpts...)
	return &c
}

// outbound reports whether e is on the outbound route.
func (e *envelope) outbound() bool { return e.Route == routeOutbound }

// version returns the record version e is written with.
func (e *envelope) version() int {
	if e.outbound() {
		return outboundVersion
	}
	return formatVersion
}

// key names the delivery worker of e: its domain, or for the outbound
// route the domain behind a space, which no domain contains.
func (e *envelope) key() string {
	if e.outbound() {
		return routeOutbound + " " + e.Domain
	}
	return e.Domain
}

// pending returns the addresses still to deliver.
func (e *envelope) pending() []string {
	return e.addrs(statePending)
}

func (e *envelope) addrs(state string) []string {
	var out []string
	for _, r := range e.Rcpts {
		if r.State == state {
			out = append(out, r.Addr)
		}
	}
	return out
}

// marshal returns the record's bytes, times in UTC.
func (e *envelope) marshal() ([]byte, error) {
	c := e.clone()
	c.Version = c.version()
	c.Arrived = c.Arrived.UTC()
	c.NextAttempt = c.NextAttempt.UTC()
	b, err := json.Marshal(c)
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}

// parseEnvelope decodes and validates a record. It never panics on bad
// input; every problem is an error.
func parseEnvelope(data []byte) (*envelope, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	var e envelope
	if err := dec.Decode(&e); err != nil {
		return nil, fmt.Errorf("envelope: %w", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("envelope: data after the record")
	}
	if err := e.validate(); err != nil {
		return nil, fmt.Errorf("envelope: %w", err)
	}
	return &e, nil
}

// validate checks what the rest of relayq relies on.
func (e *envelope) validate() error {
	switch {
	case e.Version != formatVersion && e.Version != outboundVersion:
		return fmt.Errorf("unknown version %d", e.Version)
	case e.Route != "" && e.Route != routeOutbound:
		return fmt.Errorf("unknown route %q", e.Route)
	case e.Version != e.version():
		return fmt.Errorf("route %q in a version %d record", e.Route,
			e.Version)
	case !validID(e.ID):
		return fmt.Errorf("bad id %q", e.ID)
	case !validDomain(e.Domain):
		return fmt.Errorf("bad domain %q", e.Domain)
	case !validLine(e.Relay, 300):
		return errors.New("bad relay")
	case !validLine(e.Sender, maxPath):
		return errors.New("bad sender")
	case len(e.Rcpts) == 0:
		return errors.New("no recipients")
	case e.Attempts < 0:
		return errors.New("negative attempts")
	}
	for _, r := range e.Rcpts {
		if r.Addr == "" || !validLine(r.Addr, maxPath) {
			return fmt.Errorf("bad recipient %q", r.Addr)
		}
		if r.State != statePending && r.State != stateDone &&
			r.State != stateFailed {
			return fmt.Errorf("bad recipient state %q", r.State)
		}
	}
	return nil
}

// maxPath is the longest reverse- or forward-path accepted, RFC 5321
// §4.5.3.1.3 (256 octets including the angle brackets).
const maxPath = 256

// validLine reports whether s fits one SMTP command argument: at most
// max bytes, no control characters (CR and LF above all).
func validLine(s string, max int) bool {
	if len(s) > max {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] == 0x7f {
			return false
		}
	}
	return true
}

// validID reports whether id can be a queue entry ID.
func validID(id string) bool {
	if id == "" || len(id) > 64 {
		return false
	}
	for _, c := range id {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'z' || c == '-') {
			return false
		}
	}
	return true
}

// validDomain reports whether name can be a queue domain: non-empty,
// printable, no path separators or spaces.
func validDomain(name string) bool {
	if name == "" || name == "." || name == ".." {
		return false
	}
	return validLine(name, 255) && !strings.ContainsAny(name, `/\ `)
}

// newID returns a fresh entry ID: the time in nanoseconds (hex, so IDs
// of one process sort by arrival) and 32 random bits.
func newID(now time.Time) string {
	var r [4]byte
	rand.Read(r[:]) // never fails (crypto/rand since Go 1.24)
	return strconv.FormatInt(now.UnixNano(), 16) + "-" +
		hex.EncodeToString(r[:])
}

// envPath and msgPath name an entry's files in dir.
func envPath(dir, id string) string {
	return filepath.Join(dir, id+envSuffix)
}

func msgPath(dir, id string) string {
	return filepath.Join(dir, id+msgSuffix)
}

// writeEnvelope writes e to its record atomically and durably: temp
// file, fsync, rename, fsync of the folder.
func writeEnvelope(dir string, e *envelope) error {
	data, err := e.marshal()
	if err != nil {
		return err
	}
	final := envPath(dir, e.ID)
	tmp := final + tmpSuffix
	if err := writeSynced(tmp, data); err != nil {
		os.Remove(tmp)
		return err
	}
	if err := os.Rename(tmp, final); err != nil {
		os.Remove(tmp)
		return err
	}
	return store.SyncDir(dir)
}

// writeSynced creates path (replacing a stale temp file) with data and
// fsyncs it.
func writeSynced(path string, data []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// readEnvelope reads and parses the record at path and checks that its
// ID matches the file name.
func readEnvelope(path string) (*envelope, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxRecord+1))
	if err != nil {
		return nil, err
	}
	if len(data) > maxRecord {
		return nil, errors.New("envelope: record too large")
	}
	e, err := parseEnvelope(data)
	if err != nil {
		return nil, err
	}
	want := strings.TrimSuffix(filepath.Base(path), envSuffix)
	if e.ID != want {
		return nil, fmt.Errorf("envelope: id %q in file %s", e.ID, want)
	}
	return e, nil
}
