package store

import (
	"sort"
	"strings"

	"github.com/emersion/go-maildir"
)

// The Maildir flag letters store understands, as bytes for Message.Has.
// They are go-maildir's flags; the file name carries them after ":2,".
const (
	FlagDraft   = byte(maildir.FlagDraft)   // D: IMAP \Draft
	FlagFlagged = byte(maildir.FlagFlagged) // F: IMAP \Flagged
	FlagPassed  = byte(maildir.FlagPassed)  // P: forwarded ($Forwarded)
	FlagReplied = byte(maildir.FlagReplied) // R: IMAP \Answered
	FlagSeen    = byte(maildir.FlagSeen)    // S: IMAP \Seen
	FlagTrashed = byte(maildir.FlagTrashed) // T: IMAP \Deleted
)

// FlagLetters are the letters SetFlags manages, in Maildir order.
//
// TODO: keywords. Dovecot maps them to lowercase letters through a
// dovecot-keywords file; we keep such letters untouched but cannot set
// them yet.
const FlagLetters = "DFPRST"

// NormalizeFlags keeps the letters of FlagLetters in s, sorted and
// without duplicates.
func NormalizeFlags(s string) string {
	var b strings.Builder
	for i := 0; i < len(FlagLetters); i++ {
		if strings.IndexByte(s, FlagLetters[i]) >= 0 {
			b.WriteByte(FlagLetters[i])
		}
	}
	return b.String()
}

// mergeFlags returns the managed letters of want plus the letters of
// have that store does not manage, sorted as Maildir requires.
func mergeFlags(want, have string) string {
	var extra []byte
	for i := 0; i < len(have); i++ {
		if strings.IndexByte(FlagLetters, have[i]) < 0 {
			extra = append(extra, have[i])
		}
	}
	return sortLetters(want + string(extra))
}

// sortLetters sorts the ASCII letters of s and drops duplicates and
// anything that is not a letter.
func sortLetters(s string) string {
	if lettersInOrder(s) {
		return s // the usual case, as every Maildir writer sorts them
	}
	b := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		c := s[i]
		if (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') {
			if strings.IndexByte(string(b), c) < 0 {
				b = append(b, c)
			}
		}
	}
	sort.Slice(b, func(i, j int) bool { return b[i] < b[j] })
	return string(b)
}

// lettersInOrder reports whether s is ASCII letters in strictly
// increasing order (sorted, no repeats), which sortLetters keeps as is.
func lettersInOrder(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if (c < 'A' || c > 'Z') && (c < 'a' || c > 'z') ||
			i > 0 && s[i-1] >= c {
			return false
		}
	}
	return true
}
