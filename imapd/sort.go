package imapd

import (
	"cmp"
	"slices"
	"strings"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver"
	"github.com/emersion/go-message/mail"

	"github.com/stratamail/continuity/store"
)

// SORT's ordering (RFC 5256 §3): the criteria go-imap never sees,
// carried to Search by the guard's rewrite (sortwire.go). The keys come
// from the list cache (store.ListEntry), so sorting a folder reads no
// message file once its entries are cached.

// sortKind is one sort criterion.
type sortKind int

const (
	sortArrival sortKind = iota
	sortCc
	sortDate
	sortFrom
	sortSize
	sortSubject
	sortTo
)

var sortKinds = map[string]sortKind{
	"ARRIVAL": sortArrival, "CC": sortCc, "DATE": sortDate,
	"FROM": sortFrom, "SIZE": sortSize, "SUBJECT": sortSubject,
	"TO": sortTo,
}

// sortCriterion is a criterion and its direction.
type sortCriterion struct {
	kind    sortKind
	reverse bool
}

// parseSortCriteria reads "REVERSE DATE SUBJECT" (the list's inside).
func parseSortCriteria(s string) ([]sortCriterion, error) {
	var crit []sortCriterion
	reverse := false
	for _, w := range strings.Fields(strings.ToUpper(s)) {
		if w == "REVERSE" && !reverse {
			reverse = true
			continue
		}
		k, ok := sortKinds[w]
		if !ok {
			return nil, &imap.Error{Type: imap.StatusResponseTypeBad,
				Text: "Unknown sort criterion " + w}
		}
		crit = append(crit, sortCriterion{k, reverse})
		reverse = false
	}
	if reverse || len(crit) == 0 {
		return nil, &imap.Error{Type: imap.StatusResponseTypeBad,
			Text: "Incomplete sort criteria"}
	}
	return crit, nil
}

// takeSort removes the guard's sort marker from c and returns the
// order it carries; nil when c is a plain SEARCH.
func (s *session) takeSort(c *imap.SearchCriteria) ([]sortCriterion,
	error) {
	if s.guard == nil || len(c.Header) == 0 {
		return nil, nil
	}
	marker := s.guard.sortMarker()
	i := slices.IndexFunc(c.Header, func(h imap.SearchCriteriaHeaderField) bool {
		return h.Key == marker
	})
	if i < 0 {
		return nil, nil
	}
	spec := c.Header[i].Value
	c.Header = slices.Delete(c.Header, i, i+1)
	return parseSortCriteria(spec)
}

// sortRow is one matched message in the sort: its place in the
// matched list (the tie-break), the number SORT reports, and the first
// criterion's key when it is a number. Rows are small so that sorting
// 100,000 of them moves little; string keys live in sortKeys.
type sortRow struct {
	pos int32
	num uint32
	key int64
}

// sortKeys are the keys of one message for every criterion.
type sortKeys struct {
	date, arrival, size   int64
	from, to, cc, subject string
}

// sortTargets orders the matched targets by crit and returns their
// numbers; ties keep sequence order, as RFC 5256 asks.
func sortTargets(sel *selected, kind imapserver.NumKind, ts []target,
	crit []sortCriterion) []uint32 {
	entries := sel.folder.ListEntries(len(ts), func(i int) store.Message {
		return ts[i].msg
	})
	numeric := crit[0].kind.numeric()
	// One numeric criterion, the usual case (Roundcube sorts by date),
	// needs no more than the rows; other orders keep every key.
	var keys []sortKeys
	if len(crit) > 1 || !numeric {
		keys = make([]sortKeys, len(ts))
	}
	rows := make([]sortRow, len(ts))
	for i, t := range ts {
		var k sortKeys
		if e := entries[i]; e != nil { // nil: gone, empty keys
			k.fill(e, crit)
		}
		if keys != nil {
			keys[i] = k
		}
		rows[i] = sortRow{pos: int32(i), num: pick(kind, t),
			key: k.number(crit[0].kind)}
	}
	slices.SortFunc(rows, func(a, b sortRow) int {
		for n, c := range crit {
			var r int
			if n == 0 && numeric {
				r = cmp.Compare(a.key, b.key)
			} else {
				r = compareBy(c.kind, &keys[a.pos], &keys[b.pos])
			}
			if r != 0 {
				if c.reverse {
					return -r
				}
				return r
			}
		}
		return cmp.Compare(a.pos, b.pos)
	})
	nums := make([]uint32, len(rows))
	for i := range rows {
		nums[i] = rows[i].num
	}
	return nums
}

// numeric reports whether k orders by a number (sortKeys.number).
func (k sortKind) numeric() bool {
	return k == sortArrival || k == sortDate || k == sortSize
}

// number returns the numeric key of kind, 0 for a string kind.
func (k *sortKeys) number(kind sortKind) int64 {
	switch kind {
	case sortArrival:
		return k.arrival
	case sortDate:
		return k.date
	case sortSize:
		return k.size
	}
	return 0
}

// fill sets the keys crit needs from e.
func (k *sortKeys) fill(e *store.ListEntry, crit []sortCriterion) {
	// Whole seconds, as clients see INTERNALDATE and Date: messages
	// within one second tie and keep sequence order (RFC 5256 §3).
	k.size = e.Size
	k.arrival = e.Arrived.Unix()
	k.date = k.arrival // RFC 5256: INTERNALDATE without a valid Date
	if !e.Date.IsZero() {
		k.date = e.Date.Unix()
	}
	for _, c := range crit {
		switch c.kind {
		case sortFrom:
			k.from = firstMailbox(store.FieldValue(e.Fields, "from"))
		case sortTo:
			k.to = firstMailbox(store.FieldValue(e.Fields, "to"))
		case sortCc:
			k.cc = firstMailbox(store.FieldValue(e.Fields, "cc"))
		case sortSubject:
			k.subject = baseSubject(store.FieldValue(e.Fields, "subject"))
		}
	}
}

// compareBy compares two messages' keys of kind.
func compareBy(k sortKind, a, b *sortKeys) int {
	switch k {
	case sortArrival:
		return cmp.Compare(a.arrival, b.arrival)
	case sortDate:
		return cmp.Compare(a.date, b.date)
	case sortSize:
		return cmp.Compare(a.size, b.size)
	case sortFrom:
		return strings.Compare(a.from, b.from)
	case sortTo:
		return strings.Compare(a.to, b.to)
	case sortCc:
		return strings.Compare(a.cc, b.cc)
	default:
		return strings.Compare(a.subject, b.subject)
	}
}

// firstMailbox is the sort key of an address field: the local part
// (IMAP's addr-mailbox) of its first address, upper-cased as
// i;ascii-casemap compares; "" without one.
func firstMailbox(v string) string {
	if v == "" {
		return ""
	}
	var local string
	if list, err := mail.ParseAddressList(v); err == nil && len(list) > 0 {
		local, _, _ = strings.Cut(list[0].Address, "@")
	} else {
		// Unparsable: the text before the first "@" of the field,
		// after any "<".
		_, after, ok := strings.Cut(v, "<")
		if !ok {
			after = v
		}
		local, _, _ = strings.Cut(after, "@")
		local = strings.TrimSpace(local)
	}
	return asciiUpper(local)
}

// asciiUpper upper-cases ASCII letters only (i;ascii-casemap).
func asciiUpper(s string) string {
	return strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' {
			return r - 'a' + 'A'
		}
		return r
	}, s)
}

// baseSubject extracts the base subject of RFC 5256 §2.1 from a
// Subject field, decoded and upper-cased for i;ascii-casemap.
func baseSubject(v string) string {
	if dec, err := wordDecoder.DecodeHeader(v); err == nil {
		v = dec
	}
	s := strings.Join(strings.Fields(v), " ") // (1) one space each
	for {
		s = trimTrailers(s) // (2)
		for {               // (3)-(5)
			t := trimLeader(s)
			if b, ok := cutBlob(t); ok && b != "" {
				t = b // (4) a leading blob, if something is left
			}
			if t == s {
				break
			}
			s = t
		}
		// (6) "[fwd: ...]" around the whole subject.
		if len(s) >= 6 && strings.EqualFold(s[:5], "[fwd:") &&
			s[len(s)-1] == ']' {
			s = s[5 : len(s)-1]
			continue
		}
		return asciiUpper(s)
	}
}

// trimTrailers removes trailing "(fwd)" and spaces (subj-trailer).
func trimTrailers(s string) string {
	for {
		t := strings.TrimRight(s, " ")
		if len(t) >= 5 && strings.EqualFold(t[len(t)-5:], "(fwd)") {
			t = t[:len(t)-5]
		}
		if t == s {
			return s
		}
		s = t
	}
}

// trimLeader removes one subj-leader: spaces, or blobs followed by
// "re", "fw" or "fwd", an optional blob and a colon.
func trimLeader(s string) string {
	if t := strings.TrimLeft(s, " "); t != s {
		return t
	}
	t := s
	for {
		b, ok := cutBlob(t)
		if !ok {
			break
		}
		t = b
	}
	var rest string
	switch l := strings.ToLower(t); {
	case strings.HasPrefix(l, "re"):
		rest = t[2:]
	case strings.HasPrefix(l, "fwd"):
		rest = t[3:]
	case strings.HasPrefix(l, "fw"):
		rest = t[2:]
	default:
		return s
	}
	rest = strings.TrimLeft(rest, " ")
	if b, ok := cutBlob(rest); ok {
		rest = b
	}
	if !strings.HasPrefix(rest, ":") {
		return s
	}
	return rest[1:]
}

// cutBlob removes a leading subj-blob ("[" text without brackets "]"
// and spaces) from s.
func cutBlob(s string) (string, bool) {
	if !strings.HasPrefix(s, "[") {
		return s, false
	}
	end := strings.IndexAny(s[1:], "[]")
	if end < 0 || s[1+end] != ']' {
		return s, false
	}
	return strings.TrimLeft(s[end+2:], " "), true
}
