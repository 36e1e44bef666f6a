package smtpd

import (
	"fmt"

	"github.com/emersion/go-smtp"
)

// The replies smtpd gives, basic and enhanced code together (RFC 5321
// §4.2, RFC 3463). The client gets the short generic text; the detail
// goes to the log. go-smtp type-asserts the errors our Session returns,
// so they are always returned bare, never wrapped: a wrapped one would
// become "554 5.0.0".
//
// go-smtp answers some conditions itself, before our Session sees
// them: SIZE= over the limit on MAIL (552 5.3.4), an over-long command
// line (500 5.4.0, then it closes), commands out of order (502/503).
//
// go-smtp v0.26.0 parses SIZE= in 32 bits and answers a larger number
// (RFC 1870 §4 allows 20 digits) with "501 5.5.4 Unable to parse SIZE
// as an integer"; trackedConn turns that into its 552 5.3.4 (see
// fixSizeReply in tlsup.go). A SIZE= that is no number keeps the 501.
var (
	// replyBadHelo refuses a HELO/EHLO argument with control
	// characters in it (CR, NUL, ...), which could forge header lines.
	replyBadHelo = reply(501, 5, 5, 2, "Invalid HELO/EHLO argument")
	// replyBadSender refuses a reverse-path that is not a usable
	// address: control characters, bad UTF-8 or too long.
	replyBadSender = reply(501, 5, 1, 7, "Bad sender address syntax")
	// replyBadRcpt is replyBadSender's twin for forward-paths.
	replyBadRcpt = reply(501, 5, 1, 3, "Bad recipient address syntax")
	// replyBadParam refuses a MAIL parameter with control characters
	// (AUTH= may smuggle them in xtext).
	replyBadParam = reply(501, 5, 5, 4, "Invalid parameter")
	// replyNested refuses MAIL inside a transaction (RFC 5321
	// §4.1.1.2: the client must RSET first).
	replyNested = reply(503, 5, 5, 1, "Nested MAIL command")
	// replyNeedMail refuses RCPT before MAIL; go-smtp checks this
	// first, so it is a safety net.
	replyNeedMail = reply(503, 5, 5, 1, "MAIL first")
	// replyNeedUTF8 refuses a non-ASCII address when MAIL carried no
	// SMTPUTF8 parameter (RFC 6531 §3.5).
	replyNeedUTF8 = reply(553, 5, 6, 7,
		"Non-ASCII address needs SMTPUTF8")
	// replyRelayDenied refuses a recipient in a domain we are not
	// configured for: we are nobody's open relay.
	replyRelayDenied = reply(554, 5, 7, 1, "Relay access denied")
	// replyNotFromFilter refuses a recipient of a domain whose
	// accept_from does not list the client: mail for it must come
	// through its spam filter.
	replyNotFromFilter = reply(554, 5, 7, 1, "Mail for this domain "+
		"is accepted only from its mail filter")
	// replyNoSuchUser refuses an unknown local part of a domain in
	// mode both or local, which has shadow mailboxes to deliver to.
	replyNoSuchUser = reply(550, 5, 1, 1, "No such user here")
	// replyTooManyRcpts defers recipients over max_recipients
	// (RFC 5321 §4.5.3.1.10: 452, and the client sends the rest in
	// a later transaction).
	replyTooManyRcpts = reply(452, 4, 5, 3, "Too many recipients")
	// replyTooBig refuses a message over max_message_size (RFC 5321
	// §4.5.3.1.9, RFC 1870 §6.2).
	replyTooBig = reply(552, 5, 3, 4, "Message too big")
	// replyBareLF refuses a message with a bare CR or LF, which RFC
	// 5321 §2.3.8 forbids. We reject rather than normalise because
	// such a message is the tool of SMTP smuggling (a "\n.\n" that
	// another server might take for the end of the data), and a
	// permanent refusal tells a broken sender why; 5.6.0 says the
	// content, not the envelope, is at fault (RFC 3463 §3.7).
	replyBareLF = reply(550, 5, 6, 0,
		"Bare CR or LF in message; lines must end in CRLF")
	// replyLineTooLong refuses a message with a line over
	// MaxLineLength (RFC 5321 §4.5.3.1.9); go-smtp then closes.
	replyLineTooLong = reply(500, 5, 5, 2, "Line too long")
	// replyTimeout answers a DATA transfer that stalled; the
	// connection is closed after it, since the rest of the body
	// must not be read as commands.
	replyTimeout = reply(421, 4, 4, 2, "Timeout during data transfer")
	// replyConnError answers a DATA transfer cut short by the
	// client or the network.
	replyConnError = reply(421, 4, 4, 0, "Connection error")
	// replyTempFail is the answer to any failure of ours while
	// making a message durable: the client keeps it and retries.
	replyTempFail = reply(451, 4, 3, 0,
		"Temporary failure; try again later")
	// replyDiskFull is replyTempFail when storage is exhausted
	// (ENOSPC, EDQUOT).
	replyDiskFull = reply(452, 4, 3, 1, "Insufficient system storage")
	// replyTooManyConns turns away a client address holding too many
	// connections already.
	replyTooManyConns = reply(421, 4, 7, 0, "Too many connections "+
		"from your address; try again later")
	// replyTooManyErrors ends a session after too many refused
	// commands.
	replyTooManyErrors = reply(421, 4, 7, 0, "Too many errors; "+
		"closing the connection")
	// replyHeaderTooBig refuses a message whose header section is over
	// maxHeaderSection.
	replyHeaderTooBig = reply(552, 5, 3, 4, "Message header too big")
	// replyLoop refuses a message that has passed through too many
	// servers (RFC 5321 §6.3): a mail loop.
	replyLoop = reply(554, 5, 4, 0, "Too many hops: mail loop?")
	// replyTooComplex refuses a message nested deeper than any reader
	// could show (see maxMultiparts).
	replyTooComplex = reply(554, 5, 6, 0, "Message structure too "+
		"complex")
	// replyAuthRequired refuses MAIL on the submission service before
	// AUTH (RFC 4954 §6).
	replyAuthRequired = reply(530, 5, 7, 0, "Authentication required")
	// replyAuthFailed refuses wrong credentials (RFC 4954 §6).
	replyAuthFailed = reply(535, 5, 7, 8, "Authentication failed")
	// replyAuthLocked refuses a client address after too many failed
	// logins, for a while; the connection is closed after it.
	replyAuthLocked = reply(421, 4, 7, 0,
		"Too many failed logins; try again later")
	// replySenderNotOwned refuses a MAIL FROM that is not one of the
	// authenticated user's addresses (RFC 6409 §6.1).
	replySenderNotOwned = reply(553, 5, 7, 1,
		"Sender address is not yours")
	// replyFromNotOwned refuses a message whose From: or Sender:
	// is not one of the user's addresses, or cannot be read.
	replyFromNotOwned = reply(553, 5, 7, 1,
		"From: and Sender: must be your addresses")
	// replyBadAuthors refuses a submitted message without exactly one
	// From: field naming a mailbox (RFC 5322 §3.6), or with a Sender:
	// that cannot be read.
	replyBadAuthors = reply(550, 5, 6, 0, "The message needs one From: "+
		"field with your address (and at most one Sender:)")
	// replyRateLimited defers MAIL from a user over
	// max_messages_per_hour.
	replyRateLimited = reply(450, 4, 7, 0,
		"Too many messages sent in the last hour; try again later")
	// replyShutdown answers DATA while the server is closing.
	replyShutdown = reply(421, 4, 3, 2, "Service shutting down")
)

// allReplies are the replies above, every one. A reply on the wire
// that is none of them is go-smtp's own (see wire.go);
// TestAllRepliesListed keeps the list complete.
var allReplies = []*smtp.SMTPError{replyBadHelo, replyBadSender,
	replyBadRcpt, replyBadParam, replyNested, replyNeedMail,
	replyNeedUTF8, replyRelayDenied, replyNotFromFilter,
	replyNoSuchUser, replyTooManyRcpts, replyTooBig, replyBareLF,
	replyLineTooLong, replyTimeout, replyConnError, replyTempFail,
	replyDiskFull, replyTooManyConns, replyTooManyErrors,
	replyHeaderTooBig, replyLoop, replyTooComplex, replyAuthRequired,
	replyAuthFailed, replyAuthLocked, replySenderNotOwned,
	replyFromNotOwned, replyBadAuthors, replyRateLimited, replyShutdown}

// reply returns an SMTP reply with its enhanced code.
func reply(code, class, subject, detail int, text string) *smtp.SMTPError {
	return &smtp.SMTPError{
		Code:         code,
		EnhancedCode: smtp.EnhancedCode{class, subject, detail},
		Message:      text,
	}
}

// replyAccepted is the 250 that ends a DATA whose message is durable.
// It names the intake id and the queue entries, if any.
func replyAccepted(id string, queueIDs []string) *smtp.SMTPError {
	// The intake id is the one in our Received header and log line, so
	// a sender's log of this reply leads to both.
	text := "OK: id " + id
	if len(queueIDs) > 0 {
		text += ", queued as " + joinIDs(queueIDs)
	}
	return reply(250, 2, 0, 0, text)
}

// codeString formats a reply's codes for the log, as "550 5.1.1".
func codeString(r *smtp.SMTPError) string {
	e := r.EnhancedCode
	return fmt.Sprintf("%d %d.%d.%d", r.Code, e[0], e[1], e[2])
}
