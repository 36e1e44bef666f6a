package relayq

// Delivery status notifications (RFC 3464): the message that tells a
// sender which recipients failed. It is a multipart/report (RFC 6522)
// of a human-readable part, a message/delivery-status part, and the
// original header as text/rfc822-headers (RFC 6522 §4). It is written
// straight into the sender's shadow INBOX, never queued: a DSN is never
// answered with another.
//
// buildDSN knows nothing of the queue's routes, so that the expiry of
// relay entries can use it too.

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"regexp"
	"strings"
	"time"

	"github.com/stratamail/continuity/conf"
)

// maxDSNHeader bounds the original header copied into a DSN.
const maxDSNHeader = 64 << 10

// dsn is what a delivery status notification reports.
type dsn struct {
	host     string // the reporting MTA, our hostname
	sender   string // the original reverse-path, its recipient
	id       string // the queue entry, for the operator
	arrived  time.Time
	now      time.Time
	remote   string // the last host tried, or ""
	failed   []rcpt // the recipients that failed, with their replies
	original []byte // the original header section, CRLF
	// delayed makes it a delay warning (Action: delayed) for recipients
	// still tried until until; failed then holds the pending ones.
	delayed bool
	until   time.Time
}

// enhancedRE matches an enhanced status code (RFC 3463 §2).
var enhancedRE = regexp.MustCompile(`^[245]\.\d{1,3}\.\d{1,3};?$`)

// dsnStatus returns the RFC 3463 status of a recipient's reply: the
// enhanced code after its basic code (RFC 2034 §4) or at its start,
// else the class of its basic code.
func dsnStatus(reply string) string {
	f := strings.Fields(reply)
	if len(f) > 0 && len(f[0]) == 3 && isDigits(f[0]) {
		f = f[1:]
	}
	if len(f) > 0 && enhancedRE.MatchString(f[0]) {
		return strings.TrimSuffix(f[0], ";")
	}
	if len(reply) > 0 && (reply[0] == '4' || reply[0] == '5') {
		return reply[:1] + ".0.0"
	}
	return "5.0.0"
}

// diagnostic returns the Diagnostic-Code field's value for reply: an
// SMTP reply as such, anything else as our own diagnostic type.
func diagnostic(reply string) string {
	if len(reply) >= 3 && isDigits(reply[:3]) {
		return "smtp; " + reply
	}
	return "X-StrataMail; " + reply
}

func isDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// fieldText makes s safe as the text of one header field line:
// printable ASCII only, at most 900 bytes.
func fieldText(s string) string {
	b := []byte(s)
	for i, c := range b {
		if c < 0x20 || c >= 0x7f {
			b[i] = '?'
		}
	}
	return string(b[:min(len(b), 900)])
}

// buildDSN returns the DSN message, CRLF throughout.
func buildDSN(d dsn) []byte {
	var rnd [8]byte
	rand.Read(rnd[:])
	boundary := "dsn-" + hex.EncodeToString(rnd[:])
	var b bytes.Buffer
	w := func(format string, args ...any) {
		fmt.Fprintf(&b, format+"\r\n", args...)
	}
	w("From: Mail Delivery System <MAILER-DAEMON@%s>", d.host)
	w("To: <%s>", fieldText(d.sender))
	if d.delayed {
		w("Subject: Delayed Mail (still being retried)")
	} else {
		w("Subject: Undelivered Mail Returned to Sender")
	}
	w("Date: %s", d.now.Format(time.RFC1123Z))
	w("Message-ID: <%s.%s@%s>", d.id, hex.EncodeToString(rnd[:4]),
		d.host)
	w("Auto-Submitted: auto-replied") // RFC 3834 §5
	w("MIME-Version: 1.0")
	w("Content-Type: multipart/report; report-type=delivery-status;")
	w("\tboundary=%q", boundary)
	w("")
	w("This is a MIME-formatted delivery status notification.")
	w("")
	w("--%s", boundary)
	writeHuman(&b, d, w)
	w("--%s", boundary)
	writeStatus(d, w)
	w("--%s", boundary)
	w("Content-Type: text/rfc822-headers")
	w("")
	b.Write(d.original)
	w("--%s--", boundary)
	return b.Bytes()
}

// writeHuman writes the human-readable part (RFC 6522 §3).
func writeHuman(b *bytes.Buffer, d dsn, w func(string, ...any)) {
	w("Content-Type: text/plain; charset=us-ascii")
	w("Content-Description: Notification")
	w("")
	w("This is the mail system at %s.", d.host)
	w("")
	if d.delayed {
		w("Your message has not yet been delivered to the recipients")
		w("below. It was sent %s; delivery is retried until %s.",
			d.arrived.UTC().Format(time.RFC1123Z),
			d.until.UTC().Format(time.RFC1123Z))
		w("You need not send it again.")
	} else {
		w("Your message could not be delivered to the recipients " +
			"below.")
		w("It was sent %s and has been given up on.",
			d.arrived.UTC().Format(time.RFC1123Z))
	}
	w("")
	for _, r := range d.failed {
		w("<%s>: %s", fieldText(r.Addr), fieldText(r.Reply))
	}
	w("")
}

// writeStatus writes the message/delivery-status part (RFC 3464 §2).
func writeStatus(d dsn, w func(string, ...any)) {
	w("Content-Type: message/delivery-status")
	w("Content-Description: Delivery report")
	w("")
	w("Reporting-MTA: dns; %s", d.host)
	w("X-StrataMail-Queue-ID: %s", d.id)
	w("Arrival-Date: %s", d.arrived.Format(time.RFC1123Z))
	for _, r := range d.failed {
		w("")
		w("Final-Recipient: rfc822; %s", fieldText(r.Addr))
		if d.delayed {
			w("Action: delayed")
			w("Status: %s", delayStatus(r.Reply))
			w("Will-Retry-Until: %s", d.until.Format(time.RFC1123Z))
		} else {
			w("Action: failed")
			w("Status: %s", dsnStatus(r.Reply))
		}
		if d.remote != "" {
			w("Remote-MTA: dns; %s", fieldText(d.remote))
		}
		w("Diagnostic-Code: %s", fieldText(diagnostic(r.Reply)))
		w("Last-Attempt-Date: %s", d.now.Format(time.RFC1123Z))
	}
	w("")
}

// readHeader returns the header section of the message at path, up to
// maxDSNHeader bytes, cut at a line end, CRLF-terminated.
func readHeader(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	r := bufio.NewReader(io.LimitReader(f, maxDSNHeader))
	var out []byte
	for {
		line, err := r.ReadBytes('\n')
		if err != nil || len(bytes.TrimRight(line, "\r\n")) == 0 {
			break // the end, the empty line, or the limit
		}
		out = append(out, line...)
	}
	return out, nil
}

// bounce returns next, an entry with no pending recipient and some
// failed, to its sender with a DSN: into the sender's shadow INBOX when
// the sender is one of our users, else queued for the sender like any
// mail (to a primary of ours, or on the outbound route), from the null
// sender so that it can never bounce in turn. The null sender gets no
// DSN (RFC 5321 §4.5.5). It returns next, or a held copy when the DSN
// could not be made, so the operator sees the failure.
func (q *Queue) bounce(next *envelope) *envelope {
	failed := q.failedRcpts(next)
	if len(failed) == 0 {
		return next
	}
	sender := strings.Trim(next.Sender, "<>")
	if sender == "" {
		q.log.Info("bounced; no DSN to the null sender", "id", next.ID,
			"failed", next.addrs(stateFailed))
		return next
	}
	to, err := q.sendDSN(next, failed, sender, false)
	if err != nil {
		q.log.Error("bounced; DSN not made; entry held",
			"id", next.ID, "sender", next.Sender, "err", err)
		held := next.clone()
		held.Held = true
		return held
	}
	q.log.Info("bounced; DSN sent", "id", next.ID,
		"sender", next.Sender, "to", to,
		"failed", next.addrs(stateFailed))
	return next
}

func (q *Queue) failedRcpts(e *envelope) []rcpt {
	var out []rcpt
	for _, r := range e.Rcpts {
		if r.State == stateFailed {
			out = append(out, r)
		}
	}
	return out
}

// sendDSN builds the DSN of env's failed recipients and makes it
// durable on its way to sender: the sender's shadow INBOX, or a queue
// entry. It returns where it went.
func (q *Queue) sendDSN(env *envelope, failed []rcpt,
	sender string, delayed bool) (string, error) {
	if q.opts.Store == nil {
		return "", errors.New("no store to write the DSN with")
	}
	hdr, err := readHeader(msgPath(q.dir, env.ID))
	if err != nil {
		return "", err
	}
	msg := buildDSN(dsn{host: q.hostname(), sender: env.Sender,
		id: env.ID, arrived: env.Arrived, now: q.clock.Now(),
		remote: remoteHost(env.Relay), failed: failed, original: hdr,
		delayed: delayed, until: env.Arrived.Add(q.lifetime(env))})
	sp, err := q.opts.Store.NewSpool()
	if err != nil {
		return "", err
	}
	defer sp.Discard()
	if _, err := sp.Write(msg); err != nil {
		return "", err
	}
	if err := sp.Commit(); err != nil {
		return "", err
	}
	var dom *conf.Domain
	var user *conf.User
	if cfg := q.opts.Config(); cfg != nil {
		dom, user = cfg.Lookup(sender)
	}
	switch {
	case user != nil && dom.Mode.Stores():
		_, err = q.opts.Store.DeliverNew(sp, []string{user.Address})
		return "shadow INBOX of " + user.Address, err
	case dom != nil && dom.Mode.Relays():
		_, err = q.Enqueue(sp.Path(), dom, "", []string{sender})
		return "the primary of " + dom.Name, err
	case dom != nil:
		return "", fmt.Errorf("%s: no such user in %s", sender, dom.Name)
	}
	_, domain, ok := strings.Cut(sender, "@")
	if !ok {
		return "", fmt.Errorf("sender %q has no domain", sender)
	}
	_, err = q.EnqueueOutbound(sp.Path(), strings.ToLower(domain), "",
		[]string{sender})
	return "the outbound route", err
}

// remoteHost returns the host of a host:port, for Remote-MTA.
func remoteHost(hostport string) string {
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		return h
	}
	return hostport
}

// delayStatus is the status of a recipient still being tried: its
// reply's when that is a 4xx one, else 4.4.1 (no answer from the host,
// RFC 3463 §3.5).
func delayStatus(reply string) string {
	if st := dsnStatus(reply); strings.HasPrefix(st, "4.") {
		return st
	}
	return "4.4.1"
}

// warnDelay tells next's sender, once, that the message has waited
// server.delay_warning and is still being tried. Off when the setting
// is 0; never to the null sender. A warning that cannot be made is
// logged and tried again after the next attempt.
func (q *Queue) warnDelay(next *envelope) *envelope {
	cfg := q.opts.Config()
	if cfg == nil || cfg.Server.DelayWarning <= 0 || next.Warned ||
		next.Held || len(next.pending()) == 0 ||
		q.clock.Now().Sub(next.Arrived) < cfg.Server.DelayWarning {
		return next
	}
	sender := strings.Trim(next.Sender, "<>")
	if sender == "" {
		return next
	}
	var pending []rcpt
	for _, r := range next.Rcpts {
		if r.State == statePending {
			pending = append(pending, r)
		}
	}
	to, err := q.sendDSN(next, pending, sender, true)
	if err != nil {
		q.log.Error("delay warning not sent", "id", next.ID,
			"sender", next.Sender, "err", err)
		return next
	}
	q.log.Info("delay warning sent", "id", next.ID,
		"sender", next.Sender, "to", to, "pending", next.pending())
	warned := next.clone()
	warned.Warned = true
	return warned
}
