package imapd

import (
	"bufio"
	"bytes"
	"io"
	"mime"
	"slices"
	"strings"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver"
	gomessage "github.com/emersion/go-message"
	"github.com/emersion/go-message/charset"
	"github.com/emersion/go-message/mail"
	"github.com/emersion/go-message/textproto"

	"github.com/stratamail/continuity/store"
)

// maxSearchRead caps how much of one message SEARCH BODY/TEXT reads.
const maxSearchRead = 32 << 20

// Search answers SEARCH and UID SEARCH (RFC 3501 §6.4.4) with the
// criteria go-imap parses. Every field of the result is filled: beta.8
// panics the connection on a nil All under ESEARCH.
//
// TODO: SEARCH BODY and TEXT read every message of the folder (as
// Dovecot does without a full-text index); header criteria could be
// answered from the list cache where it keeps the field.
func (s *session) Search(kind imapserver.NumKind, c *imap.SearchCriteria,
	_ *imap.SearchOptions) (*imap.SearchData, error) {
	sel, err := s.needSelected()
	if err != nil {
		return nil, err
	}
	if usesSearchRes(c) {
		return nil, errSearchRes
	}
	order, err := s.takeSort(c)
	if err != nil {
		return nil, err
	}
	var targets []target
	err = sel.folder.Locked(func(v *store.View) error {
		targets = sel.resolve(v, imap.SeqSet{{Start: 1, Stop: 0}})
		return nil
	})
	if err != nil {
		return nil, s.fail(err)
	}
	var limits searchLimits
	if n := len(targets); n > 0 {
		limits = searchLimits{targets[n-1].seq, targets[n-1].msg.UID}
	}
	hits := targets[:0] // filtered in place: a folder may be large
	for _, t := range targets {
		cand := &candidate{sel: sel, t: t, lim: limits}
		if cand.match(c) {
			hits = append(hits, t)
		}
	}
	if order != nil {
		d := orderedData(kind, sortTargets(sel, kind, hits, order))
		// Entries made for the sort are kept for the next start, as
		// FETCH keeps those it makes.
		if err := sel.folder.FlushListCache(); err != nil {
			s.logger().Warn("list cache not saved", "err", err)
		}
		s.guard.sortAnswered()
		return d, nil
	}
	nums := make([]uint32, len(hits))
	for i, t := range hits {
		nums[i] = pick(kind, t)
	}
	return searchData(kind, nums), nil
}

// orderedData is searchData for numbers in the order given: one range
// per number, which go-imap writes out in that order (a set built with
// AddNum would be sorted and merged).
func orderedData(kind imapserver.NumKind, nums []uint32) *imap.SearchData {
	d := &imap.SearchData{Count: uint32(len(nums))}
	if len(nums) > 0 {
		d.Min, d.Max = slices.Min(nums), slices.Max(nums)
	}
	if kind == imapserver.NumKindUID {
		set := make(imap.UIDSet, len(nums))
		for i, n := range nums {
			set[i] = imap.UIDRange{Start: imap.UID(n), Stop: imap.UID(n)}
		}
		d.All = set
		return d
	}
	set := make(imap.SeqSet, len(nums))
	for i, n := range nums {
		set[i] = imap.SeqRange{Start: n, Stop: n}
	}
	d.All = set
	return d
}

// pick returns the number SEARCH reports for t.
func pick(kind imapserver.NumKind, t target) uint32 {
	if kind == imapserver.NumKindUID {
		return t.msg.UID
	}
	return t.seq
}

// searchData fills every field of the result.
func searchData(kind imapserver.NumKind, nums []uint32) *imap.SearchData {
	d := &imap.SearchData{Count: uint32(len(nums))}
	if len(nums) > 0 {
		d.Min, d.Max = nums[0], nums[len(nums)-1]
	}
	if kind == imapserver.NumKindUID {
		var set imap.UIDSet
		for _, n := range nums {
			set.AddNum(imap.UID(n))
		}
		d.All = set
		if set == nil {
			d.All = imap.UIDSet{}
		}
		return d
	}
	set := imap.SeqSet{}
	for _, n := range nums {
		set.AddNum(n)
	}
	d.All = set
	return d
}

// usesSearchRes reports whether criteria refer to "$" anywhere.
func usesSearchRes(c *imap.SearchCriteria) bool {
	for _, u := range c.UID {
		if imap.IsSearchRes(u) {
			return true
		}
	}
	for i := range c.Not {
		if usesSearchRes(&c.Not[i]) {
			return true
		}
	}
	for i := range c.Or {
		if usesSearchRes(&c.Or[i][0]) || usesSearchRes(&c.Or[i][1]) {
			return true
		}
	}
	return false
}

// searchLimits are what "*" means in sequence and UID sets.
type searchLimits struct{ maxSeq, maxUID uint32 }

// candidate is one message under test; its file is read lazily, once.
type candidate struct {
	sel *selected
	t   target
	lim searchLimits

	read   bool
	date   time.Time // internal date
	header textproto.Header
	raw    []byte // the message, up to maxSearchRead
	text   string // lower-case decoded text parts, built on demand
	texted bool
}

// match reports whether the message meets every part of c.
func (m *candidate) match(c *imap.SearchCriteria) bool {
	return m.matchNumbers(c) && m.matchFlags(c) && m.matchSize(c) &&
		m.matchDates(c) && m.matchContent(c) && m.matchLogic(c)
}

func (m *candidate) matchNumbers(c *imap.SearchCriteria) bool {
	for _, set := range c.SeqNum {
		if !seqIn(set, m.t.seq, m.lim.maxSeq) {
			return false
		}
	}
	for _, set := range c.UID {
		if !uidIn(set, m.t.msg.UID, m.lim.maxUID) {
			return false
		}
	}
	return true
}

// matchFlags handles flag keys; \Recent and keywords are never set.
func (m *candidate) matchFlags(c *imap.SearchCriteria) bool {
	for _, f := range c.Flag {
		l, ok := letterOf(f)
		if !ok || !m.t.msg.Has(l) {
			return false
		}
	}
	for _, f := range c.NotFlag {
		if l, ok := letterOf(f); ok && m.t.msg.Has(l) {
			return false
		}
	}
	return true
}

func (m *candidate) matchSize(c *imap.SearchCriteria) bool {
	size := m.t.msg.Size
	return (c.Larger == 0 || size > c.Larger) &&
		(c.Smaller == 0 || size < c.Smaller)
}

// matchDates compares dates only, ignoring time and zone (RFC 3501
// §6.4.4): internal date for SINCE/BEFORE/ON, the Date header for the
// SENT* keys.
func (m *candidate) matchDates(c *imap.SearchCriteria) bool {
	if !c.Since.IsZero() || !c.Before.IsZero() {
		if !m.load() || !inDates(m.date, c.Since, c.Before) {
			return false
		}
	}
	if !c.SentSince.IsZero() || !c.SentBefore.IsZero() {
		if !m.load() {
			return false
		}
		h := mail.Header{Header: gomessage.Header{Header: m.header}}
		sent, err := h.Date()
		if err != nil || sent.IsZero() ||
			!inDates(sent, c.SentSince, c.SentBefore) {
			return false
		}
	}
	return true
}

// inDates reports whether t's calendar day is on or after since and
// before before (zero bounds are open).
func inDates(t, since, before time.Time) bool {
	d := dayOf(t)
	return (since.IsZero() || !d.Before(dayOf(since))) &&
		(before.IsZero() || d.Before(dayOf(before)))
}

func dayOf(t time.Time) time.Time {
	return time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC)
}

// matchContent handles HEADER, BODY and TEXT: case-insensitive
// substrings of the decoded header values and text parts.
func (m *candidate) matchContent(c *imap.SearchCriteria) bool {
	if len(c.Header) == 0 && len(c.Body) == 0 && len(c.Text) == 0 {
		return true
	}
	if !m.load() {
		return false
	}
	for _, h := range c.Header {
		if !headerHas(m.header, h.Key, h.Value) {
			return false
		}
	}
	for _, b := range c.Body {
		if !strings.Contains(m.bodyText(), strings.ToLower(b)) {
			return false
		}
	}
	for _, t := range c.Text {
		if !strings.Contains(m.allText(), strings.ToLower(t)) {
			return false
		}
	}
	return true
}

// matchLogic handles NOT and OR.
func (m *candidate) matchLogic(c *imap.SearchCriteria) bool {
	for i := range c.Not {
		if m.match(&c.Not[i]) {
			return false
		}
	}
	for i := range c.Or {
		if !m.match(&c.Or[i][0]) && !m.match(&c.Or[i][1]) {
			return false
		}
	}
	return true
}

// load reads the message file once; false if it is gone.
func (m *candidate) load() bool {
	if m.read {
		return m.raw != nil
	}
	m.read = true
	fh, msg, err := m.sel.folder.Open(m.t.msg.UID)
	if err != nil {
		return false
	}
	defer fh.Close()
	m.t.msg = msg
	if fi, err := fh.Stat(); err == nil {
		m.date = fi.ModTime()
	}
	raw, err := io.ReadAll(io.LimitReader(fh, maxSearchRead))
	if err != nil {
		return false
	}
	m.raw = raw
	m.header, _ = textproto.ReadHeader(bufio.NewReader(bytes.NewReader(raw)))
	return true
}

// wordDecoder decodes RFC 2047 words in every charset go-message knows.
// Importing go-message/charset also registers those charsets for
// go-message's own header and body decoding (DEPENDENCIES.md).
var wordDecoder = mime.WordDecoder{CharsetReader: charset.Reader}

// headerHas reports whether a field named key contains value, raw or
// decoded; an empty value matches any message with the field.
func headerHas(h textproto.Header, key, value string) bool {
	value = strings.ToLower(value)
	for _, v := range h.Values(key) {
		if strings.Contains(strings.ToLower(v), value) {
			return true
		}
		dec, err := wordDecoder.DecodeHeader(v)
		if err == nil && strings.Contains(strings.ToLower(dec), value) {
			return true
		}
	}
	return false
}

// bodyText returns the decoded text parts in lower case, or the raw
// body when the message cannot be parsed.
func (m *candidate) bodyText() string {
	if m.texted {
		return m.text
	}
	m.texted = true
	var b strings.Builder
	e, err := gomessage.Read(bytes.NewReader(m.raw))
	if e == nil {
		_, body, _ := bytes.Cut(m.raw, []byte("\r\n\r\n"))
		m.text = strings.ToLower(string(body))
		return m.text
	}
	_ = err // unknown charsets still give a usable entity
	e.Walk(func(_ []int, p *gomessage.Entity, err error) error {
		t, _, _ := p.Header.ContentType()
		if err == nil && (t == "" || strings.HasPrefix(t, "text/")) {
			io.Copy(&b, io.LimitReader(p.Body, maxSearchRead))
			b.WriteByte('\n')
		}
		return nil
	})
	m.text = strings.ToLower(b.String())
	return m.text
}

// allText is what TEXT searches: the header, raw and decoded, and the
// body text.
func (m *candidate) allText() string {
	var b strings.Builder
	for f := m.header.Fields(); f.Next(); {
		b.WriteString(f.Key() + ": " + f.Value() + "\n")
		if dec, err := wordDecoder.DecodeHeader(f.Value()); err == nil {
			b.WriteString(dec + "\n")
		}
	}
	return strings.ToLower(b.String()) + m.bodyText()
}
