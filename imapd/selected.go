package imapd

import (
	"errors"
	"io/fs"
	"math"
	"reflect"
	"slices"
	"sort"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver"

	"github.com/stratamail/continuity/conf"
	"github.com/stratamail/continuity/store"
)

// target is a message of the selected mailbox as the client sees it.
type target struct {
	seq uint32 // the client's sequence number
	idx int    // index in the folder at resolve time
	msg store.Message
}

// errSearchRes refuses "$" (RFC 5182), which we do not advertise.
var errSearchRes = &imap.Error{
	Type: imap.StatusResponseTypeBad,
	Text: "SEARCHRES ($) is not supported",
}

// resolve returns the messages of set in ascending order. Call it with
// the folder locked (v): it asks the session tracker to translate
// between the folder's positions and the client's sequence numbers, and
// skips messages the client has not been told about yet.
//
// It visits only the messages the set names (a UID range by binary
// search over the folder, which is in UID order; a sequence range
// through the tracker), so that fetching or flagging one message of a
// folder of 100,000 costs little.
func (sel *selected) resolve(v *store.View, set imap.NumSet) []target {
	last := v.Len() // the last message the client knows
	for last > 0 && sel.tracker.EncodeSeqNum(uint32(last)) == 0 {
		last--
	}
	if last == 0 {
		return nil
	}
	maxSeq := sel.tracker.EncodeSeqNum(uint32(last))
	maxUID := v.At(last - 1).UID
	out := make([]target, 0, min(last, setSize(set, maxSeq, maxUID)))
	ranges := 0
	add := func(i int) {
		if seq := sel.tracker.EncodeSeqNum(uint32(i + 1)); seq != 0 {
			out = append(out, target{seq: seq, idx: i, msg: v.At(i)})
		}
	}
	switch set := set.(type) {
	case imap.UIDSet:
		ranges = len(set)
		for _, r := range set {
			start, stop := bounds(uint32(r.Start), uint32(r.Stop), maxUID)
			i := sort.Search(last, func(i int) bool {
				return v.At(i).UID >= start
			})
			for ; i < last && v.At(i).UID <= stop; i++ {
				add(i)
			}
		}
	case imap.SeqSet:
		ranges = len(set)
		for _, r := range set {
			start, stop := bounds(r.Start, r.Stop, maxSeq)
			for n := start; n <= min(stop, maxSeq) && n != 0; n++ {
				if i := sel.tracker.DecodeSeqNum(n); i != 0 {
					add(int(i) - 1)
				}
				if n == math.MaxUint32 {
					break
				}
			}
		}
	}
	if ranges > 1 {
		// Ranges may overlap or come in any order.
		slices.SortFunc(out, func(a, b target) int { return a.idx - b.idx })
		out = slices.CompactFunc(out, func(a, b target) bool {
			return a.idx == b.idx
		})
	}
	return out
}

// setSize is an upper bound of how many numbers set names, "*"
// standing for maxSeq or maxUID.
func setSize(set imap.NumSet, maxSeq, maxUID uint32) int {
	n := 0
	add := func(start, stop, max uint32) {
		start, stop = bounds(start, stop, max)
		n += int(min(stop, max)) - int(min(start, max)) + 1
	}
	switch set := set.(type) {
	case imap.UIDSet:
		for _, r := range set {
			add(uint32(r.Start), uint32(r.Stop), maxUID)
		}
	case imap.SeqSet:
		for _, r := range set {
			add(r.Start, r.Stop, maxSeq)
		}
	}
	return n
}

// bounds returns start:stop in order, with "*" (0) standing for max.
func bounds(start, stop, max uint32) (uint32, uint32) {
	if start == 0 {
		start = max
	}
	if stop == 0 {
		stop = max
	}
	if start > stop {
		start, stop = stop, start
	}
	return start, stop
}

// seqIn reports whether n is in set, "*" standing for max
// (RFC 3501 §9, seq-number).
func seqIn(set imap.SeqSet, n, max uint32) bool {
	for _, r := range set {
		if inRange(r.Start, r.Stop, n, max) {
			return true
		}
	}
	return false
}

// uidIn is seqIn for UIDs; "*" is the highest UID in the mailbox.
func uidIn(set imap.UIDSet, uid, max uint32) bool {
	for _, r := range set {
		if inRange(uint32(r.Start), uint32(r.Stop), uid, max) {
			return true
		}
	}
	return false
}

// inRange reports whether n is in start:stop, where 0 is "*" and the
// bounds may come in either order ("5:*" with max 3 is "3:5").
func inRange(start, stop, n, max uint32) bool {
	start, stop = bounds(start, stop, max)
	return start <= n && n <= stop
}

// checkSet refuses number sets we cannot resolve.
func checkSet(set imap.NumSet) error {
	if imap.IsSearchRes(set) {
		return errSearchRes
	}
	return nil
}

// Store changes flags (RFC 3501 §6.4.6). Other sessions learn of the
// change through the tracker; this one gets the FETCH responses here
// unless .SILENT.
func (s *session) Store(w *imapserver.FetchWriter, set imap.NumSet,
	flags *imap.StoreFlags, _ *imap.StoreOptions) error {
	sel, err := s.needSelected()
	if err != nil {
		return err
	}
	if sel.readOnly {
		return errReadOnly
	}
	if err := checkSet(set); err != nil {
		return err
	}
	letters := lettersOf(flags.Flags)
	var done []target
	err = sel.folder.Locked(func(v *store.View) error {
		for _, t := range sel.resolve(v, set) {
			want := applyStore(t.msg.Flags, flags.Op, letters)
			m, err := v.SetFlags(t.idx, want, sel.tracker)
			if err != nil {
				return err
			}
			t.msg = m
			done = append(done, t)
		}
		return nil
	})
	if err != nil {
		return s.fail(err)
	}
	if flags.Silent {
		return nil
	}
	_, byUID := set.(imap.UIDSet)
	for _, t := range done {
		rw := w.CreateMessage(t.seq)
		if byUID {
			rw.WriteUID(imap.UID(t.msg.UID))
		}
		rw.WriteFlags(imapFlags(t.msg.Flags))
		if err := rw.Close(); err != nil {
			return err
		}
	}
	return nil
}

// Expunge removes the messages marked \Deleted (RFC 3501 §6.4.3), only
// those in uids for UID EXPUNGE (RFC 4315 §2.1). The EXPUNGE responses
// reach every session, this one included, through the tracker.
func (s *session) Expunge(w *imapserver.ExpungeWriter,
	uids *imap.UIDSet) error {
	sel, err := s.needSelected()
	if err != nil {
		return err
	}
	if sel.readOnly {
		if uids == nil && isCloseWriter(w) {
			return nil // CLOSE after EXAMINE expunges nothing
		}
		return errReadOnly
	}
	if uids != nil {
		if err := checkSet(*uids); err != nil {
			return err
		}
	}
	err = sel.folder.Locked(func(v *store.View) error {
		var idx []int
		for _, t := range sel.resolve(v, allMessages(uids)) {
			if t.msg.Has(store.FlagTrashed) {
				idx = append(idx, t.idx)
			}
		}
		return v.Expunge(idx)
	})
	if err != nil {
		return s.fail(err)
	}
	return nil
}

// allMessages returns uids, or the set of every message when nil.
func allMessages(uids *imap.UIDSet) imap.NumSet {
	if uids != nil {
		return *uids
	}
	return imap.SeqSet{{Start: 1, Stop: 0}}
}

// isCloseWriter reports whether w is the writer imapserver passes when
// CLOSE expunges: it has no connection, since CLOSE sends no EXPUNGE
// responses (RFC 3501 §6.4.2). beta.8 offers no other way to tell CLOSE
// from EXPUNGE, and CLOSE after EXAMINE must succeed while EXPUNGE must
// be refused. TestExamineIsReadOnly pins this.
func isCloseWriter(w *imapserver.ExpungeWriter) bool {
	if w == nil {
		return true
	}
	f := reflect.ValueOf(w).Elem().FieldByName("conn")
	return f.IsValid() && f.Kind() == reflect.Pointer && f.IsNil()
}

// destFolder opens the target of COPY, MOVE or APPEND; a missing one
// gets [TRYCREATE] (RFC 3501 §6.3.11, §6.4.7).
func (s *session) destFolder(name string) (*store.Folder, error) {
	f, err := s.acct.Folder(name)
	if errors.Is(err, store.ErrNotFound) {
		return nil, &imap.Error{Type: imap.StatusResponseTypeNo,
			Code: imap.ResponseCodeTryCreate, Text: "No such mailbox"}
	}
	if err != nil {
		return nil, s.fail(err)
	}
	return f, nil
}

// Copy copies messages with their flags (RFC 3501 §6.4.7) and reports
// COPYUID (RFC 4315 §3).
func (s *session) Copy(set imap.NumSet, dest string) (*imap.CopyData, error) {
	data, _, err := s.copy(set, dest)
	return data, err
}

// copy does COPY and returns the source UIDs it copied. A source file
// renamed by a concurrent flag change is looked up again once.
func (s *session) copy(set imap.NumSet,
	dest string) (*imap.CopyData, []uint32, error) {
	sel, err := s.needSelected()
	if err != nil {
		return nil, nil, err
	}
	if err := checkSet(set); err != nil {
		return nil, nil, err
	}
	to, err := s.destFolder(dest)
	if err != nil {
		return nil, nil, err
	}
	for attempt := 0; ; attempt++ {
		srcs, uids, err := sel.sources(set)
		if err != nil || len(srcs) == 0 {
			return nil, nil, s.failOrNil(err)
		}
		validity, newUIDs, err := to.Import(srcs)
		if errors.Is(err, fs.ErrNotExist) && attempt == 0 {
			continue
		}
		if err != nil {
			return nil, nil, s.fail(err)
		}
		return &imap.CopyData{
			UIDValidity: validity,
			SourceUIDs:  uidSet(uids),
			DestUIDs:    uidSet(newUIDs),
		}, uids, nil
	}
}

// failOrNil is fail for a non-nil error.
func (s *session) failOrNil(err error) error {
	if err == nil {
		return nil
	}
	return s.fail(err)
}

// sources lists the files and UIDs of set.
func (sel *selected) sources(set imap.NumSet) ([]store.Source, []uint32,
	error) {
	var srcs []store.Source
	var uids []uint32
	err := sel.folder.Locked(func(v *store.View) error {
		for _, t := range sel.resolve(v, set) {
			srcs = append(srcs, store.Source{Path: t.msg.Path,
				Flags: t.msg.Flags})
			uids = append(uids, t.msg.UID)
		}
		return nil
	})
	return srcs, uids, err
}

func uidSet(uids []uint32) imap.UIDSet {
	var s imap.UIDSet
	for _, u := range uids {
		s.AddNum(imap.UID(u))
	}
	return s
}

// Move is COPY, then removal of the originals (RFC 6851 §3.3): COPYUID
// first, the EXPUNGE responses follow through the tracker. A crash in
// between leaves a copy in both folders, never in none.
func (s *session) Move(w *imapserver.MoveWriter, set imap.NumSet,
	dest string) error {
	sel, err := s.needSelected()
	if err != nil {
		return err
	}
	if sel.readOnly {
		return errReadOnly
	}
	data, uids, err := s.copy(set, dest)
	if err != nil || data == nil {
		return err
	}
	if err := w.WriteCopyData(data); err != nil {
		return err
	}
	err = sel.folder.Locked(func(v *store.View) error {
		var idx []int
		for _, u := range uids {
			if i, ok := v.Find(u); ok {
				idx = append(idx, i)
			}
		}
		return v.Expunge(idx)
	})
	return s.failOrNil(err)
}

// Append stores a message (RFC 3501 §6.3.11) and reports APPENDUID
// (RFC 4315 §3). beta.8 hands over a literal cut short without an
// error; store.Append counts the bytes and refuses it.
func (s *session) Append(mailbox string, r imap.LiteralReader,
	opts *imap.AppendOptions) (*imap.AppendData, error) {
	f, err := s.destFolder(mailbox)
	if err != nil {
		return nil, err
	}
	if free := s.srv.opts.FreeDisk(s.srv.opts.Store.DataDir()); free >= 0 &&
		free < r.Size()+appendReserve {
		// Keep the room intake needs: a user filling the disk must
		// not stop mail for everyone.
		return nil, &imap.Error{Type: imap.StatusResponseTypeNo,
			Code: imap.ResponseCodeOverQuota,
			Text: "Not enough free disk space"}
	}
	v, uid, err := f.Append(r, r.Size(), lettersOf(opts.Flags), opts.Time)
	if err != nil {
		return nil, s.fail(err)
	}
	return &imap.AppendData{UID: imap.UID(uid), UIDValidity: v}, nil
}

// appendReserve is the free space APPEND leaves for SMTP intake, as
// smtpd's low-disk check asks for a message plus 64 MiB.
const appendReserve = 128 << 20

// AppendLimit is the largest APPEND literal, max_message_size: go-imap
// refuses a larger one (NO [TOOBIG]) before reading it and advertises
// APPENDLIMIT (RFC 7889).
func (s *session) AppendLimit() uint32 {
	if s.cfg == nil || s.cfg.Server.MaxMessageSize <= 0 {
		return conf.DefaultMaxMessageSize
	}
	return uint32(min(s.cfg.Server.MaxMessageSize, math.MaxUint32))
}
