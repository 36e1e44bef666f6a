package imapd

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
)

// SORT (RFC 5256) on the wire. go-imap beta.8 has no SORT command and
// no way to add one, but a SORT command is a SEARCH with a sort order
// in front: "tag UID SORT (REVERSE DATE) UTF-8 <search keys>". So the
// guard (guardConn) rewrites the start of such a line, as it reads it,
// into a SEARCH that go-imap parses as usual:
//
//	tag UID SEARCH CHARSET UTF-8 HEADER X-StrataMail-Sort-<nonce> "REVERSE DATE" <search keys>
//
// The HEADER key carries the order to our Search (imapd/sort.go), which
// removes it from the criteria, matches, sorts and returns the numbers
// in that order; <nonce> is random per connection, so a client cannot
// ask for it by a SEARCH of its own. Search then tells the guard that
// the next "* SEARCH" line the server writes answers a SORT, and the
// guard writes it as "* SORT" (and the tagged "SEARCH completed" as
// "SORT completed"). go-imap writes a command's response right after
// the backend returns, on the same goroutine, so no other SEARCH
// response can come between.
//
// SORT is advertised (inserted into the server's CAPABILITY lists) only
// on a connection the guard is rewriting: once it stops (a doubt about
// where commands start) capabilities come out unchanged and a SORT
// command gets go-imap's "BAD Unknown command". The guard is above TLS
// on implicit TLS and after STARTTLS (starttls.go), so these offer SORT
// too.
//
// TODO: a client that sends ENABLE IMAP4rev2 (not advertised, but
// imapserver takes it) gets its SEARCH answers as ESEARCH, and so its
// SORT answered as "* ESEARCH ... ALL ..." with "SEARCH completed".
// Refusing that ENABLE, or rewriting ESEARCH too, would fix it; no
// client tested sends it.

// maxSortHead bounds the command start held back to recognise SORT:
// room for a long tag and a long list of criteria.
const maxSortHead = 1024

// sortVerdict is what the held start of a command line turned out to be.
type sortVerdict int

const (
	sortMore sortVerdict = iota // undecided yet
	sortNo                      // another command: pass it on as it is
	sortYes                     // a SORT, rewritten
)

// parseSortHead looks at the start of a command line. For a complete
// SORT prefix "tag [UID ]SORT (criteria) charset " it returns the
// SEARCH prefix to send instead.
func parseSortHead(head []byte, marker string) ([]byte, sortVerdict) {
	tag, rest, ok := bytes.Cut(head, []byte(" "))
	if !ok {
		return nil, undecided(len(head))
	}
	if len(tag) == 0 || !isAtom(tag) {
		return nil, sortNo
	}
	uid := false
	if w, r, ok := cutWord(rest, "UID "); w {
		uid, rest = true, r
	} else if ok {
		return nil, undecided(len(head))
	}
	w, rest, ok := cutWord(rest, "SORT (")
	if !ok {
		return nil, sortNo
	}
	if !w {
		return nil, undecided(len(head))
	}
	end := bytes.IndexByte(rest, ')')
	if end < 0 {
		if !isCriteria(rest) {
			return nil, sortNo
		}
		return nil, undecided(len(head))
	}
	crit, rest := rest[:end], rest[end+1:]
	if !isCriteria(crit) || len(bytes.TrimSpace(crit)) == 0 {
		return nil, sortNo
	}
	if len(rest) == 0 {
		return nil, undecided(len(head))
	}
	if rest[0] != ' ' {
		return nil, sortNo
	}
	charset, after, v := sortCharset(rest[1:])
	if v != sortYes {
		if v == sortMore {
			v = undecided(len(head))
		}
		return nil, v
	}
	out := make([]byte, 0, len(head)+64)
	out = append(append(out, tag...), ' ')
	if uid {
		out = append(out, "UID "...)
	}
	out = append(out, "SEARCH CHARSET "...)
	out = append(append(out, charset...), " HEADER "...)
	out = append(append(out, marker...), " \""...)
	out = append(append(out, crit...), "\" "...)
	return append(out, after...), sortYes
}

// sortCharset reads the charset and the SP after it at the start of b:
// an atom or a quoted string without escapes ("UTF-8"). A literal is
// not taken (the command is then not rewritten).
func sortCharset(b []byte) (charset, after []byte, v sortVerdict) {
	if len(b) > 0 && b[0] == '"' {
		end := bytes.IndexByte(b[1:], '"')
		if end < 0 {
			if !isAtom(b[1:]) {
				return nil, nil, sortNo
			}
			return nil, nil, sortMore
		}
		charset, b = b[:end+2], b[end+2:]
		if !isAtom(charset[1:end+1]) || end == 0 {
			return nil, nil, sortNo
		}
		if len(b) == 0 {
			return nil, nil, sortMore
		}
		if b[0] != ' ' {
			return nil, nil, sortNo
		}
		return charset, b[1:], sortYes
	}
	charset, after, ok := bytes.Cut(b, []byte(" "))
	switch {
	case len(charset) > 0 && !isAtom(charset):
		return nil, nil, sortNo
	case !ok:
		return nil, nil, sortMore
	case len(charset) == 0:
		return nil, nil, sortNo
	}
	return charset, after, sortYes
}

// undecided is sortMore while the held start may still grow.
func undecided(n int) sortVerdict {
	if n >= maxSortHead {
		return sortNo
	}
	return sortMore
}

// cutWord matches the start of b against want, case-insensitively:
// matched reports a whole match (rest is what follows); ok is false
// when b cannot be a start of want.
func cutWord(b []byte, want string) (matched bool, rest []byte, ok bool) {
	n := min(len(b), len(want))
	if !bytes.EqualFold(b[:n], []byte(want[:n])) {
		return false, b, false
	}
	if n < len(want) {
		return false, b, true
	}
	return true, b[n:], true
}

// isAtom reports whether b is made of atom characters (RFC 3501 §9),
// without '+' or ']', which no tag or charset needs.
func isAtom(b []byte) bool {
	for _, c := range b {
		if c <= ' ' || c >= 0x7f || bytes.IndexByte([]byte(`(){%*"\]+`), c) >= 0 {
			return false
		}
	}
	return true
}

// isCriteria reports whether b can be (the start of) a list of sort
// criteria: letters and spaces, quotable as they are.
func isCriteria(b []byte) bool {
	for _, c := range b {
		if c != ' ' && (c|0x20 < 'a' || c|0x20 > 'z') {
			return false
		}
	}
	return true
}

// newSortMarker returns the HEADER key that marks a rewritten SORT.
func newSortMarker() string {
	var b [8]byte
	rand.Read(b[:])
	return "X-StrataMail-Sort-" + hex.EncodeToString(b[:])
}

// maxOutHead bounds the start of a server line held back to rewrite
// it: a tag as long as maxSortHead allows, and the words after it.
const maxOutHead = maxSortHead + 64

// rewriteOutHead looks at the start of a line the server writes. It
// returns the bytes to write instead (nil: the line as it is) once the
// start decides it; done is false while it may still grow. sortNext
// says that a "* SEARCH" line answers a SORT, sortDone that a tagged
// completion does; offer that SORT goes into capability lists.
func rewriteOutHead(head []byte, sortNext, sortDone, offer, idDone bool) (
	out []byte, done bool, kind outKind) {
	w0, rest, ok := bytes.Cut(head, []byte(" "))
	if !ok {
		if len(head) >= maxOutHead || bytes.IndexByte(head, '\n') >= 0 {
			return nil, true, outPlain
		}
		return nil, false, outPlain
	}
	type pattern struct {
		text string
		kind outKind
	}
	var pats []pattern
	switch string(w0) {
	case "+":
	case "*":
		if sortNext {
			pats = append(pats, pattern{"SEARCH ", outSort},
				pattern{"SEARCH\r", outSort})
		}
		if offer {
			pats = append(pats,
				pattern{"CAPABILITY IMAP4rev1", outCaps},
				pattern{"OK [CAPABILITY IMAP4rev1", outCaps})
		}
	default:
		if offer {
			pats = append(pats, pattern{"OK [CAPABILITY IMAP4rev1", outCaps})
		}
		pats = append(pats, pattern{goImapServerBug, outBadArgs})
		if idDone {
			pats = append(pats, pattern{"OK NOOP completed\r", outIDOK})
		}
		if sortDone {
			pats = append(pats, pattern{"OK SEARCH completed", outSortOK},
				pattern{"OK UID SEARCH completed", outSortOK})
		}
	}
	maybe := false
	for _, p := range pats {
		n := min(len(rest), len(p.text))
		if string(rest[:n]) != p.text[:n] {
			continue
		}
		if n < len(p.text) {
			maybe = true
			continue
		}
		return rewriteLine(w0, rest, p.text, p.kind), true, p.kind
	}
	if maybe && len(head) < maxOutHead {
		return nil, false, outPlain
	}
	return nil, true, outPlain
}

// outKind is what a server line was rewritten as.
type outKind int

const (
	outPlain   outKind = iota
	outSort            // "* SEARCH" became "* SORT"
	outSortOK          // "SEARCH completed" became "SORT completed"
	outCaps            // SORT added to a capability list
	outBadArgs         // go-imap's SERVERBUG made a BAD (badargs.go)
	outIDOK            // the NOOP standing for an ID answered (idwire.go)
)

// rewriteLine rewrites the matched start (w0 SP text) of a server line.
func rewriteLine(w0, rest []byte, text string, kind outKind) []byte {
	out := append(append([]byte{}, w0...), ' ')
	after := rest[len(text):]
	switch kind {
	case outSort:
		// "SEARCH " or "SEARCH\r": keep the byte after the word.
		return append(append(out, "SORT"...), rest[len("SEARCH"):]...)
	case outSortOK:
		i := bytes.Index([]byte(text), []byte("SEARCH"))
		out = append(out, text[:i]...)
		return append(append(out, "SORT completed"...), after...)
	case outBadArgs:
		return append(append(out, badArgsReply...), after...)
	case outIDOK:
		out = append([]byte(idReply+"\r\n"), out...)
		return append(append(out, "OK ID completed\r"...), after...)
	default: // outCaps
		return append(append(append(out, text...), " SORT ID"...), after...)
	}
}
