package smtpd

import (
	"sync/atomic"

	"github.com/emersion/go-smtp"
)

// Stats is a snapshot of the server's counters since it started.
type Stats struct {
	// Messages counts transactions by how they ended: "accepted",
	// "refused" (MAIL or DATA refused) and "aborted" (no DATA).
	Messages map[string]uint64
	// Refused counts refusals of HELO, MAIL, RCPT and DATA by reason;
	// RefusalReasons lists the reasons.
	Refused map[string]uint64
}

// RefusalReasons are the reasons Stats.Refused counts, one per reply
// of replies.go that refuses something; "other" is any other reply.
//
// Refusals go-smtp gives itself are counted too, under the reason of
// ours for the same condition (SIZE= over the limit: too_big) or as
// "bad_command" (unknown commands, syntax errors, commands out of
// order).
var RefusalReasons = []string{"bad_helo", "bad_sender", "bad_recipient",
	"bad_parameter", "bad_sequence", "need_smtputf8", "relay_denied",
	"not_from_filter", "no_such_user", "too_many_recipients", "too_big",
	"bare_lf", "line_too_long", "timeout", "connection_error",
	"temporary_failure", "disk_full", "shutdown", "too_many_errors",
	"header_too_big", "mail_loop", "too_complex", "bad_command",
	"other"}

// reasonOf names the reason of a refusal reply.
func reasonOf(r *smtp.SMTPError) string {
	switch r {
	case replyBadHelo:
		return "bad_helo"
	case replyBadSender:
		return "bad_sender"
	case replyBadRcpt:
		return "bad_recipient"
	case replyBadParam:
		return "bad_parameter"
	case replyNested, replyNeedMail:
		return "bad_sequence"
	case replyNeedUTF8:
		return "need_smtputf8"
	case replyRelayDenied:
		return "relay_denied"
	case replyNotFromFilter:
		return "not_from_filter"
	case replyNoSuchUser:
		return "no_such_user"
	case replyTooManyRcpts:
		return "too_many_recipients"
	case replyTooBig:
		return "too_big"
	case replyBareLF:
		return "bare_lf"
	case replyLineTooLong:
		return "line_too_long"
	case replyTimeout:
		return "timeout"
	case replyConnError:
		return "connection_error"
	case replyTempFail:
		return "temporary_failure"
	case replyDiskFull:
		return "disk_full"
	case replyShutdown:
		return "shutdown"
	case replyTooManyErrors:
		return "too_many_errors"
	case replyHeaderTooBig:
		return "header_too_big"
	case replyLoop:
		return "mail_loop"
	case replyTooComplex:
		return "too_complex"
	}
	return "other"
}

// txnResults are the ends of a transaction Stats.Messages counts.
var txnResults = []string{"accepted", "refused", "aborted"}

// counters are the server's event counters. The maps are filled by
// newCounters and only read after, so the counters need no lock.
type counters struct {
	messages map[string]*atomic.Uint64
	refused  map[string]*atomic.Uint64
}

func newCounters() *counters {
	c := &counters{messages: map[string]*atomic.Uint64{},
		refused: map[string]*atomic.Uint64{}}
	for _, r := range txnResults {
		c.messages[r] = new(atomic.Uint64)
	}
	for _, r := range RefusalReasons {
		c.refused[r] = new(atomic.Uint64)
	}
	return c
}

// countTxn counts a transaction that ended with res, one of
// txnResults.
func (c *counters) countTxn(res string) {
	if n := c.messages[res]; n != nil {
		n.Add(1)
	}
}

// countRefusal counts the refusal r.
func (c *counters) countRefusal(r *smtp.SMTPError) {
	c.refused[reasonOf(r)].Add(1)
}

// countReason counts a refusal of the reason name, one of
// RefusalReasons.
func (c *counters) countReason(name string) {
	if n := c.refused[name]; n != nil {
		n.Add(1)
	}
}

// Stats returns a snapshot of the server's counters.
func (s *Server) Stats() Stats {
	st := Stats{Messages: map[string]uint64{},
		Refused: map[string]uint64{}}
	for k, v := range s.stats.messages {
		st.Messages[k] = v.Load()
	}
	for k, v := range s.stats.refused {
		st.Refused[k] = v.Load()
	}
	return st
}
