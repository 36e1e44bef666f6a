package store

import (
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// Delimiter is the hierarchy delimiter of folder names, on the IMAP wire
// and on disk. Maildir++ joins levels with '.', and Dovecot's default
// namespace for Maildir++ uses the same character, so "Work.2024" is the
// folder directory ".Work.2024" and a name component can never contain a
// dot.
const Delimiter = '.'

// Inbox is the name of the root folder of every shadow mailbox.
const Inbox = "INBOX"

// MaxNameLen is the longest folder name accepted, in bytes of UTF-8. The
// encoded directory name must also fit in one path component (255 bytes).
const MaxNameLen = 200

// ErrBadName is wrapped by every error ValidateName returns.
var ErrBadName = errors.New("bad folder name")

// ValidateName checks a folder name as an IMAP client sends it (UTF-8,
// '.'-separated) and returns it in canonical form: "INBOX" in any case
// becomes "INBOX". It refuses empty levels (which covers "..", leading and
// trailing dots), '/' and '\', control characters, the LIST wildcards '*'
// and '%', invalid UTF-8, over-long names and children of INBOX, so that
// no name can reach outside the user's Maildir.
func ValidateName(name string) (string, error) {
	if strings.EqualFold(name, Inbox) {
		return Inbox, nil
	}
	bad := func(why string) (string, error) {
		return "", fmt.Errorf("%w: %s", ErrBadName, why)
	}
	switch {
	case name == "":
		return bad("empty name")
	case len(name) > MaxNameLen:
		return bad(fmt.Sprintf("longer than %d bytes", MaxNameLen))
	case !utf8.ValidString(name):
		return bad("not valid UTF-8")
	}
	for _, r := range name {
		if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) {
			return bad("control character")
		}
		switch r {
		case '/', '\\':
			return bad("contains / or \\")
		case '*', '%':
			return bad("contains a wildcard (* or %)")
		}
	}
	if name[0] == '~' {
		return bad("starts with ~, which names home folders")
	}
	levels := strings.Split(name, string(Delimiter))
	for _, l := range levels {
		if l == "" {
			return bad("empty hierarchy level (leading, " +
				"trailing or doubled '.')")
		}
		switch strings.ToLower(l) {
		case "cur", "new", "tmp":
			// Harmless in Maildir++ (the folder is .cur), but a
			// tool with another layout would take it for the
			// Maildir's own.
			return bad(fmt.Sprintf("%q is a Maildir folder of its own",
				l))
		}
	}
	if strings.EqualFold(levels[0], Inbox) {
		return bad("INBOX cannot have subfolders")
	}
	if len(dirName(name)) > 255 {
		return bad("too long once encoded")
	}
	return name, nil
}

// dirName returns the Maildir++ directory name of a validated folder
// other than INBOX: a dot and the name in modified UTF-7, as Dovecot
// stores it.
func dirName(name string) string {
	return "." + EncodeMUTF7(name)
}

// nameFromDir returns the folder name of a Maildir++ directory name, or
// ok false when the directory is not a folder we can show.
func nameFromDir(dir string) (name string, ok bool) {
	enc, found := strings.CutPrefix(dir, ".")
	if !found {
		return "", false
	}
	name, err := DecodeMUTF7(enc)
	if err != nil {
		return "", false
	}
	if v, err := ValidateName(name); err != nil || v == Inbox {
		return "", false
	}
	return name, true
}

// mutf7 is the base64 alphabet of modified UTF-7 (',' instead of '/').
var mutf7 = base64.NewEncoding(
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+,",
).WithPadding(base64.NoPadding)

// EncodeMUTF7 encodes s in the modified UTF-7 of RFC 3501 §5.1.3.
func EncodeMUTF7(s string) string {
	var b strings.Builder
	var run []rune
	flush := func() {
		if len(run) == 0 {
			return
		}
		u := utf16.Encode(run)
		raw := make([]byte, 0, 2*len(u))
		for _, c := range u {
			raw = append(raw, byte(c>>8), byte(c))
		}
		b.WriteByte('&')
		b.WriteString(mutf7.EncodeToString(raw))
		b.WriteByte('-')
		run = run[:0]
	}
	for _, r := range s {
		switch {
		case r == '&':
			flush()
			b.WriteString("&-")
		case r >= 0x20 && r <= 0x7e:
			flush()
			b.WriteRune(r)
		default:
			run = append(run, r)
		}
	}
	flush()
	return b.String()
}

// DecodeMUTF7 decodes modified UTF-7 (RFC 3501 §5.1.3). It refuses
// malformed and non-canonical input rather than guessing.
func DecodeMUTF7(s string) (string, error) {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x20 || c > 0x7e {
			return "", errors.New("mutf7: byte outside printable ASCII")
		}
		if c != '&' {
			b.WriteByte(c)
			continue
		}
		end := strings.IndexByte(s[i+1:], '-')
		if end < 0 {
			return "", errors.New("mutf7: unterminated shift")
		}
		enc := s[i+1 : i+1+end]
		i += end + 1
		if enc == "" {
			b.WriteByte('&')
			continue
		}
		text, err := decodeRun(enc)
		if err != nil {
			return "", err
		}
		b.WriteString(text)
	}
	// One name, one spelling: a folder listed under a name must open
	// the same directory again.
	if EncodeMUTF7(b.String()) != s {
		return "", errors.New("mutf7: not in canonical form")
	}
	return b.String(), nil
}

// decodeRun decodes the base64 part of one shifted run.
func decodeRun(enc string) (string, error) {
	raw, err := mutf7.DecodeString(enc)
	if err != nil || len(raw)%2 != 0 {
		return "", errors.New("mutf7: bad base64 run")
	}
	u := make([]uint16, len(raw)/2)
	for j := range u {
		u[j] = uint16(raw[2*j])<<8 | uint16(raw[2*j+1])
	}
	runes := utf16.Decode(u)
	for _, r := range runes {
		if r == utf8.RuneError || (r >= 0x20 && r <= 0x7e) {
			return "", errors.New("mutf7: invalid or needless run")
		}
	}
	return string(runes), nil
}
