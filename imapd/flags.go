package imapd

import (
	"strings"

	"github.com/emersion/go-imap/v2"

	"github.com/stratamail/continuity/store"
)

// flagForwarded is the keyword mutt and Dovecot tie to Maildir's P.
const flagForwarded = imap.Flag("$Forwarded")

// flagLetters maps IMAP system flags (RFC 3501 §2.3.2) to Maildir
// letters. \Recent is not kept: RFC 9051 dropped it and clients cope.
var flagLetters = []struct {
	flag   imap.Flag
	letter byte
}{
	{imap.FlagDraft, store.FlagDraft},
	{imap.FlagFlagged, store.FlagFlagged},
	{flagForwarded, store.FlagPassed},
	{imap.FlagAnswered, store.FlagReplied},
	{imap.FlagSeen, store.FlagSeen},
	{imap.FlagDeleted, store.FlagTrashed},
}

// mailboxFlags are the flags of SELECT's FLAGS and PERMANENTFLAGS.
//
// TODO: keywords (and \* in PERMANENTFLAGS) once store keeps them.
var mailboxFlags = func() []imap.Flag {
	l := make([]imap.Flag, len(flagLetters))
	for i, f := range flagLetters {
		l[i] = f.flag
	}
	return l
}()

// imapFlags converts Maildir letters to IMAP flags.
func imapFlags(letters string) []imap.Flag {
	l := []imap.Flag{}
	for _, f := range flagLetters {
		if strings.IndexByte(letters, f.letter) >= 0 {
			l = append(l, f.flag)
		}
	}
	return l
}

// letterOf returns the Maildir letter of an IMAP flag; ok is false for
// flags we cannot store (keywords, \Recent).
func letterOf(flag imap.Flag) (byte, bool) {
	for _, f := range flagLetters {
		if strings.EqualFold(string(f.flag), string(flag)) {
			return f.letter, true
		}
	}
	return 0, false
}

// lettersOf converts IMAP flags to Maildir letters, dropping those we
// cannot store.
func lettersOf(flags []imap.Flag) string {
	var b []byte
	for _, f := range flags {
		if c, ok := letterOf(f); ok {
			b = append(b, c)
		}
	}
	return store.NormalizeFlags(string(b))
}

// applyStore computes the letters after a STORE (RFC 3501 §6.4.6).
func applyStore(have string, op imap.StoreFlagsOp, letters string) string {
	switch op {
	case imap.StoreFlagsAdd:
		return store.NormalizeFlags(have + letters)
	case imap.StoreFlagsDel:
		var b []byte
		for i := 0; i < len(have); i++ {
			if strings.IndexByte(letters, have[i]) < 0 {
				b = append(b, have[i])
			}
		}
		return store.NormalizeFlags(string(b))
	default:
		return letters
	}
}
