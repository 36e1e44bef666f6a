package smtpd

import (
	"testing"

	"github.com/emersion/go-smtp"
)

// TestStats drives transactions that end each way and checks that
// Stats counts them and their refusals by reason.
func TestStats(t *testing.T) {
	e := newEnv(t)
	d := e.dial()
	d.cmd("EHLO client.test", "250 ")

	// Accepted, with one recipient refused on the way.
	d.cmd("MAIL FROM:<s@elsewhere.test>", "250 ")
	d.cmd("RCPT TO:<x@elsewhere.test>", "554 5.7.1 ")
	d.cmd("RCPT TO:<nobody@example.test>", "550 5.1.1 ")
	d.cmd("RCPT TO:<alice@example.test>", "250 ")
	d.cmd("DATA", "354 ")
	d.write(wireMessage("counted"))
	d.expect("250 ")

	// Refused at DATA for a bare LF.
	d.cmd("MAIL FROM:<s@elsewhere.test>", "250 ")
	d.cmd("RCPT TO:<alice@example.test>", "250 ")
	d.cmd("DATA", "354 ")
	d.write("Subject: x\r\n\r\nbare\nLF\r\n.\r\n")
	d.expect("550 5.6.0 ")

	// Refused at MAIL, then one abandoned before DATA.
	d.cmd("MAIL FROM:<bad\x01@elsewhere.test>", "501 5.1.7 ")
	d.cmd("MAIL FROM:<s@elsewhere.test>", "250 ")
	d.cmd("RSET", "250 ")
	d.cmd("QUIT", "221 ")

	st := e.srv.Stats()
	wantMsgs := map[string]uint64{"accepted": 1, "refused": 2,
		"aborted": 1}
	for k, v := range wantMsgs {
		if st.Messages[k] != v {
			t.Errorf("messages %s = %d, want %d", k, st.Messages[k], v)
		}
	}
	wantRefused := map[string]uint64{"relay_denied": 1,
		"no_such_user": 1, "bare_lf": 1, "bad_sender": 1}
	for _, r := range RefusalReasons {
		if st.Refused[r] != wantRefused[r] {
			t.Errorf("refused %s = %d, want %d", r, st.Refused[r],
				wantRefused[r])
		}
	}
}

// TestReasonOfNamesEveryReason checks that RefusalReasons lists each
// name reasonOf gives, so /metrics shows every one from the start.
func TestReasonOfNamesEveryReason(t *testing.T) {
	known := map[string]bool{}
	for _, r := range RefusalReasons {
		known[r] = true
	}
	for _, r := range []*smtp.SMTPError{replyBadHelo, replyBadSender,
		replyBadRcpt, replyBadParam, replyNested, replyNeedMail,
		replyNeedUTF8, replyRelayDenied, replyNotFromFilter,
		replyNoSuchUser, replyTooManyRcpts, replyTooBig, replyBareLF,
		replyLineTooLong, replyTimeout, replyConnError, replyTempFail,
		replyDiskFull, replyShutdown, replyAccepted("x", nil)} {
		if name := reasonOf(r); !known[name] {
			t.Errorf("reasonOf(%q) = %q, not in RefusalReasons",
				r.Message, name)
		}
	}
	if reasonOf(replyTempFail) == reasonOf(replyDiskFull) {
		t.Error("two replies share a reason")
	}
}
