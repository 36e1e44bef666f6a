package imapd

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"os"
	"slices"
	"strings"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver"
	"github.com/emersion/go-message/textproto"

	"github.com/stratamail/continuity/store"
)

// Fetch answers FETCH and UID FETCH (RFC 3501 §6.4.5). Plain BODY[]
// and its partials stream from the file; other sections go through
// imapserver's helpers, which read the message into memory.
//
// FETCH 0 and the like never get here: imapserver refuses the set
// itself, and the guard makes that a BAD (badargs.go).
//
// What a message list asks for (size, arrival, envelope, the header
// fields of store.ListFields) comes from the folder's list cache, so
// that listing a large folder opens no message file once the cache
// knows it.
func (s *session) Fetch(w *imapserver.FetchWriter, set imap.NumSet,
	opts *imap.FetchOptions) error {
	sel, err := s.needSelected()
	if err != nil {
		return err
	}
	if err := checkSet(set); err != nil {
		return err
	}
	var targets []target
	err = sel.folder.Locked(func(v *store.View) error {
		targets = sel.resolve(v, set)
		return nil
	})
	if err != nil {
		return s.fail(err)
	}
	defer func() {
		if err := sel.folder.FlushListCache(); err != nil {
			s.logger().Warn("list cache not saved", "err", err)
		}
	}()
	for _, t := range targets {
		if err := s.fetchOne(w, sel, t, opts); err != nil {
			return err
		}
	}
	return nil
}

// fromListCache reports whether the list cache can answer every item of
// opts that needs the message: no body, no structure, and header fields
// the cache keeps only.
func fromListCache(opts *imap.FetchOptions) bool {
	if opts.BodyStructure != nil || len(opts.BinarySection) > 0 ||
		len(opts.BinarySectionSize) > 0 {
		return false
	}
	for _, sec := range opts.BodySection {
		if len(sec.Part) > 0 || sec.Specifier != imap.PartSpecifierHeader ||
			len(sec.HeaderFields) == 0 || len(sec.HeaderFieldsNot) > 0 {
			return false
		}
		for _, f := range sec.HeaderFields {
			if !slices.Contains(store.ListFields, strings.ToLower(f)) {
				return false
			}
		}
	}
	return needsFile(opts)
}

// needsFile reports whether opts asks for anything the file holds.
func needsFile(opts *imap.FetchOptions) bool {
	return opts.InternalDate || opts.RFC822Size || opts.Envelope ||
		opts.BodyStructure != nil || len(opts.BodySection) > 0 ||
		len(opts.BinarySection) > 0 || len(opts.BinarySectionSize) > 0
}

// setsSeen reports whether opts reads a body without PEEK, which sets
// \Seen (RFC 3501 §6.4.5, BODY[<section>]).
func setsSeen(opts *imap.FetchOptions) bool {
	for _, b := range opts.BodySection {
		if !b.Peek {
			return true
		}
	}
	for _, b := range opts.BinarySection {
		if !b.Peek {
			return true
		}
	}
	return false
}

// fetchOne writes the FETCH response of one message. A message removed
// meanwhile by another session is skipped.
func (s *session) fetchOne(w *imapserver.FetchWriter, sel *selected,
	t target, opts *imap.FetchOptions) error {
	var entry *store.ListEntry
	if fromListCache(opts) {
		e, err := sel.folder.ListEntry(t.msg)
		if errors.Is(err, store.ErrNotFound) {
			return nil
		}
		if err != nil {
			return s.fail(err)
		}
		if e.Complete {
			entry = e
		}
	}
	var fh *os.File
	if entry == nil && needsFile(opts) {
		var err error
		fh, t.msg, err = sel.folder.Open(t.msg.UID)
		if errors.Is(err, store.ErrNotFound) {
			return nil
		}
		if err != nil {
			return s.fail(err)
		}
		defer fh.Close()
	}
	showFlags := opts.Flags
	if setsSeen(opts) && !sel.readOnly && !t.msg.Has(store.FlagSeen) {
		if err := sel.markSeen(&t); err != nil {
			return s.fail(err)
		}
		showFlags = true
	}
	rw := w.CreateMessage(t.seq)
	if opts.UID {
		rw.WriteUID(imap.UID(t.msg.UID))
	}
	if showFlags {
		rw.WriteFlags(imapFlags(t.msg.Flags))
	}
	var err error
	switch {
	case entry != nil:
		err = writeListItems(rw, entry, opts)
	case fh != nil:
		err = writeFileItems(rw, fh, opts)
	}
	if cerr := rw.Close(); err == nil {
		err = cerr
	}
	return err
}

// markSeen adds \Seen to t's message; other sessions are told.
func (sel *selected) markSeen(t *target) error {
	return sel.folder.Locked(func(v *store.View) error {
		i, ok := v.Find(t.msg.UID)
		if !ok {
			return nil
		}
		m, err := v.SetFlags(i, v.At(i).Flags+string(store.FlagSeen),
			sel.tracker)
		t.msg = m
		return err
	})
}

// writeFileItems writes the items that need the message file.
func writeFileItems(rw *imapserver.FetchResponseWriter, fh *os.File,
	opts *imap.FetchOptions) error {
	fi, err := fh.Stat()
	if err != nil {
		return err
	}
	size := fi.Size()
	whole := func() *io.SectionReader {
		return io.NewSectionReader(fh, 0, size)
	}
	if opts.InternalDate {
		rw.WriteInternalDate(fi.ModTime())
	}
	if opts.RFC822Size {
		rw.WriteRFC822Size(size)
	}
	if opts.Envelope {
		h, _ := textproto.ReadHeader(bufio.NewReader(whole()))
		rw.WriteEnvelope(imapserver.ExtractEnvelope(h))
	}
	if opts.BodyStructure != nil {
		rw.WriteBodyStructure(imapserver.ExtractBodyStructure(whole()))
	}
	for _, sec := range opts.BodySection {
		if err := writeSection(rw, sec, whole()); err != nil {
			return err
		}
	}
	for _, sec := range opts.BinarySection {
		b := imapserver.ExtractBinarySection(whole(), sec)
		wc := rw.WriteBinarySection(sec, int64(len(b)))
		if err := writeLiteral(wc, b); err != nil {
			return err
		}
	}
	for _, sec := range opts.BinarySectionSize {
		n := imapserver.ExtractBinarySectionSize(whole(), sec)
		rw.WriteBinarySectionSize(sec, n)
	}
	return nil
}

// writeListItems writes the items fromListCache allows from e.
func writeListItems(rw *imapserver.FetchResponseWriter, e *store.ListEntry,
	opts *imap.FetchOptions) error {
	if opts.InternalDate {
		rw.WriteInternalDate(e.Arrived)
	}
	if opts.RFC822Size {
		rw.WriteRFC822Size(e.Size)
	}
	if opts.Envelope {
		hdr := append(slices.Clip(e.Fields), "\r\n"...)
		h, _ := textproto.ReadHeader(bufio.NewReader(bytes.NewReader(hdr)))
		rw.WriteEnvelope(imapserver.ExtractEnvelope(h))
	}
	for _, sec := range opts.BodySection {
		b := pickFields(e.Fields, sec.HeaderFields)
		if p := sec.Partial; p != nil {
			off := min(p.Offset, int64(len(b)))
			b = b[off:min(off+p.Size, int64(len(b)))]
		}
		if err := writeLiteral(rw.WriteBodySection(sec,
			int64(len(b))), b); err != nil {
			return err
		}
	}
	return nil
}

// pickFields returns the lines of the header fields named in names,
// from the header lines hdr, in their order, and the empty line that
// ends a header (RFC 3501 §6.4.5, HEADER.FIELDS).
func pickFields(hdr []byte, names []string) []byte {
	out := make([]byte, 0, len(hdr)+2)
	keep := false
	for len(hdr) > 0 {
		line := hdr
		if i := bytes.IndexByte(hdr, '\n'); i >= 0 {
			line = hdr[:i+1]
		}
		hdr = hdr[len(line):]
		if line[0] != ' ' && line[0] != '\t' {
			name, _, _ := bytes.Cut(line, []byte(":"))
			name = bytes.TrimSpace(name)
			keep = slices.ContainsFunc(names, func(n string) bool {
				return strings.EqualFold(n, string(name))
			})
		}
		if keep {
			out = append(out, line...)
		}
	}
	return append(out, "\r\n"...)
}

// writeSection writes one BODY[...] item. The whole message, or a
// partial of it, is copied from the file without buffering.
func writeSection(rw *imapserver.FetchResponseWriter,
	sec *imap.FetchItemBodySection, r *io.SectionReader) error {
	plain := len(sec.Part) == 0 && sec.Specifier == imap.PartSpecifierNone &&
		len(sec.HeaderFields) == 0 && len(sec.HeaderFieldsNot) == 0
	if !plain {
		b := imapserver.ExtractBodySection(r, sec)
		return writeLiteral(rw.WriteBodySection(sec, int64(len(b))), b)
	}
	off, n := int64(0), r.Size()
	if p := sec.Partial; p != nil {
		off = min(p.Offset, n)
		n = min(p.Size, n-off)
	}
	wc := rw.WriteBodySection(sec, n)
	_, err := io.Copy(wc, io.NewSectionReader(r, off, n))
	if cerr := wc.Close(); err == nil {
		err = cerr
	}
	return err
}

// writeLiteral writes b to a literal writer and closes it.
func writeLiteral(wc io.WriteCloser, b []byte) error {
	_, err := wc.Write(b)
	if cerr := wc.Close(); err == nil {
		err = cerr
	}
	return err
}
