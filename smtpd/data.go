package smtpd

import (
	"bufio"
	"cmp"
	"errors"
	"io"
	"net"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/stratamail/continuity/conf"
	"github.com/stratamail/continuity/store"
)

// Data receives the message and makes it durable everywhere it belongs
// before answering 250 (RFC 5321 §4.1.1.4, §6.1: once the 250 is sent,
// the message is ours). Any failure undoes what was done and answers
// with a temporary error, so the client keeps the message and retries.
func (s *session) Data(r io.Reader) (err error) {
	defer s.recoverTo(&err, "DATA")
	t := s.claimTxn()
	if !s.srv.enter() {
		s.logTxn(t, outcome{reply: replyShutdown,
			reason: "server closing"})
		return replyShutdown
	}
	defer s.srv.leave()
	o := s.intake(t, r)
	s.logTxn(t, o)
	return o.reply
}

// intake runs the transaction's steps in order; each failure returns
// early and the deferred unwind takes back every link made.
func (s *session) intake(t *txn, r io.Reader) (o outcome) {
	o.id = newID()
	st := s.srv.opts.Store

	// Open a spool file: the message is written once, there.
	sp, err := st.NewSpool()
	if err != nil {
		return failed(o, err)
	}
	var d *store.Delivery
	done := false
	defer func() {
		if !done {
			s.unwind(sp, d, o.queueIDs)
			o.queueIDs = nil
		}
	}()

	// Receive the body behind our Received header, and fsync it.
	if o = s.receive(sp, t, r, o); o.reply != nil {
		return o
	}
	o.size = sp.Size()
	if err := sp.Commit(); err != nil {
		return failed(o, err)
	}

	// Link it into every local recipient's new/ (once per user) and
	// queue it for each primary at the same time: the fsyncs of the
	// Maildirs and of the queue then share the filesystem's journal
	// commits, which cuts the wait a single session sees.
	var derr error
	var wg sync.WaitGroup
	// Deferred after the unwind, so it runs first: even when enqueue
	// panics, the Maildir links are all made before they are undone.
	defer wg.Wait()
	if addrs := t.localAddrs(); len(addrs) > 0 {
		wg.Go(func() { d, derr = st.DeliverNew(sp, addrs) })
	}
	qerr := s.enqueue(t, sp, &o)
	wg.Wait()
	if err := cmp.Or(derr, qerr); err != nil {
		return failed(o, err)
	}

	// Every link holds the data now; the spool name can go.
	done = true
	if err := sp.Discard(); err != nil {
		// Harmless: the spool is swept at start.
		s.log.Warn("spool file not removed", "id", o.id, "err", err)
	}
	o.reply = replyAccepted(o.id, o.queueIDs)
	s.sent()
	return o
}

// enqueue queues the spooled message for each primary: one entry per
// domain, recorded in o.queueIDs as they are made.
//
// TODO: an entry may reach a live primary before a failure elsewhere in
// the intake cancels it, and the client's retry then sends it twice;
// a two-step enqueue in relayq (stage, then commit) would close that.
func (s *session) enqueue(t *txn, sp *store.Spool, o *outcome) error {
	q := s.srv.opts.Queue
	for _, g := range t.relayGroups() {
		var id string
		var err error
		if g.outbound {
			id, err = q.EnqueueOutbound(sp.Path(), g.domain,
				quoteAddr(t.from), g.rcpts)
		} else {
			id, err = q.Enqueue(sp.Path(), g.dom, quoteAddr(t.from),
				g.rcpts)
		}
		if err != nil {
			return err
		}
		o.queueIDs = append(o.queueIDs, id)
	}
	return nil
}

// failed records a failure of ours: the client gets a temporary error,
// the log the detail.
func failed(o outcome, err error) outcome {
	o.reply, o.reason, o.err = replyTempFail, "intake failed", err
	if errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT) {
		o.reply = replyDiskFull
	}
	return o
}

// unwind takes back a failed intake: queue entries, Maildir links and
// the spool file. Its own failures can only be logged.
func (s *session) unwind(sp *store.Spool, d *store.Delivery,
	queueIDs []string) {
	for _, id := range queueIDs {
		if err := s.srv.opts.Queue.Cancel(id); err != nil {
			s.log.Error("cannot cancel queue entry of a failed "+
				"intake", "queue", id, "err", err)
		}
	}
	if d != nil {
		if err := d.Undo(); err != nil {
			s.log.Error("cannot undo delivery of a failed intake",
				"err", err)
		}
	}
	if err := sp.Discard(); err != nil {
		s.log.Warn("spool file not removed", "err", err)
	}
}

// receive writes the Received header and the body into sp. A refusal
// of the message or a failure sets o.reply.
func (s *session) receive(sp *store.Spool, t *txn, r io.Reader,
	o outcome) outcome {
	w := bufio.NewWriterSize(sp, 64<<10)
	w.Write(received(s.trace(t, o.id)))
	body := bodyChecker{max: s.cfg.Server.MaxMessageSize}
	fields := newHeaderChecker()
	parts := newMIMECounter()
	var hdr *headerCapture
	if s.srv.opts.Submission {
		hdr = &headerCapture{}
	}
	buf := make([]byte, 32<<10)
	src := dataReader{r: r, tc: s.tc}
	for {
		n, rerr := src.Read(buf)
		if reply, why := body.check(buf[:n]); reply != nil {
			o.reply, o.reason = reply, why
			return o
		}
		if reply, why := fields.check(buf[:n]); reply != nil {
			o.reply, o.reason = reply, why
			return o
		}
		if reply, why := parts.check(buf[:n]); reply != nil {
			o.reply, o.reason = reply, why
			return o
		}
		if hdr != nil {
			hdr.Write(buf[:n])
		}
		if _, err := w.Write(buf[:n]); err != nil {
			return failed(o, err)
		}
		if rerr == io.EOF {
			break
		}
		if rerr != nil {
			o.reply, o.reason, o.err = s.readFailure(rerr)
			return o
		}
	}
	if reply, why := body.end(); reply != nil {
		o.reply, o.reason = reply, why
		return o
	}
	if hdr != nil {
		if reply, why := s.checkAuthors(hdr); reply != nil {
			o.reply, o.reason = reply, why
			return o
		}
	}
	if err := w.Flush(); err != nil {
		return failed(o, err)
	}
	return o
}

// readFailure maps an error reading the body to the reply. Whatever
// was read is never stored.
func (s *session) readFailure(err error) (*smtp.SMTPError, string,
	error) {
	var ne net.Error
	switch {
	case errors.Is(err, smtp.ErrDataTooLarge):
		return replyTooBig, "over max_message_size", nil
	case errors.Is(err, smtp.ErrTooLongLine):
		return replyLineTooLong, "line too long", nil
	case errors.As(err, &ne) && ne.Timeout():
		// go-smtp would read the rest of the body as commands:
		// close after the reply, and make its draining read fail
		// at once instead of extending the deadline again.
		if s.tc != nil {
			s.tc.closeAfterWrite.Store(true)
			s.tc.dataMode.Store(false)
		}
		return replyTimeout, "timeout during data", err
	}
	return replyConnError, "data transfer cut short", err
}

// trace gathers what the Received header of t records.
func (s *session) trace(t *txn, id string) trace {
	tr := trace{helo: t.helo, remote: s.remote, tls: s.tls,
		utf8: t.utf8, host: s.cfg.Server.Hostname, id: id,
		when: time.Now(), auth: s.userName() != ""}
	if len(t.rcpts) == 1 {
		tr.rcpt = quoteAddr(t.rcpts[0].addr)
	}
	return tr
}

// dataReader reads a message body, keeping the connection in data mode
// so that each read extends the deadline (see trackedConn).
type dataReader struct {
	r  io.Reader
	tc *trackedConn
}

func (d dataReader) Read(p []byte) (int, error) {
	if d.tc != nil {
		d.tc.beginData()
	}
	return d.r.Read(p)
}

// bodyChecker watches a body as it streams by: its size against max
// (0: no limit), and line endings. Only CRLF may end a line (RFC 5321
// §2.3.8); a bare CR or LF is refused (see replyBareLF).
type bodyChecker struct {
	max    int64
	size   int64
	prevCR bool
	line   int // bytes of the current line
}

// check inspects the next piece of the body.
func (b *bodyChecker) check(p []byte) (*smtp.SMTPError, string) {
	b.size += int64(len(p))
	if b.max > 0 && b.size > b.max {
		return replyTooBig, "over max_message_size"
	}
	for _, c := range p {
		switch {
		case b.prevCR && c != '\n':
			return replyBareLF, "bare CR in body"
		case !b.prevCR && c == '\n':
			return replyBareLF, "bare LF in body"
		}
		b.prevCR = c == '\r'
		// go-smtp limits lines in DATA but not in BDAT chunks; a line
		// the primary would refuse must not get a 250 here.
		if b.line++; c == '\n' {
			b.line = 0
		} else if b.line > MaxLineLength {
			return replyLineTooLong, "line over 64 KiB"
		}
	}
	return nil, ""
}

// end checks the end of the body: a final CR is a bare one.
func (b *bodyChecker) end() (*smtp.SMTPError, string) {
	if b.prevCR {
		return replyBareLF, "bare CR at end of body"
	}
	return nil, ""
}

// localAddrs returns the primary address of every user with a shadow
// mailbox among t's recipients, once each: an alias and its user's own
// address, both given, still make one delivery.
func (t *txn) localAddrs() []string {
	var out []string
	for _, r := range t.rcpts {
		if r.user != nil && !slices.Contains(out, r.user.Address) {
			out = append(out, r.user.Address)
		}
	}
	return out
}

// relayGroup is the envelope of one queue entry.
type relayGroup struct {
	domain   string
	dom      *conf.Domain // the domain of ours; nil when outbound
	outbound bool         // on the outbound route, not to a primary
	rcpts    []string     // as given, quoted again where needed
}

// relayGroups returns t's recipients in domains that relay and those on
// the outbound route, grouped by route and domain in the order first
// given.
func (t *txn) relayGroups() []relayGroup {
	var out []relayGroup
	for _, r := range t.rcpts {
		g := relayGroup{outbound: r.domain == nil}
		switch {
		case g.outbound:
			g.domain = strings.ToLower(r.key[strings.LastIndexByte(
				r.key, '@')+1:])
		case r.domain.Mode.Relays():
			g.domain, g.dom = r.domain.Name, r.domain
		default:
			continue
		}
		i := slices.IndexFunc(out, func(o relayGroup) bool {
			return o.domain == g.domain && o.outbound == g.outbound
		})
		if i < 0 {
			out = append(out, g)
			i = len(out) - 1
		}
		out[i].rcpts = append(out[i].rcpts, quoteAddr(r.addr))
	}
	return out
}
