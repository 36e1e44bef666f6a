package imapd

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/emersion/go-imap/v2"

	"github.com/stratamail/continuity/store"
)

// resolveScan is resolve the slow way, message by message: the
// reference the fast one must agree with.
func (sel *selected) resolveScan(v *store.View, set imap.NumSet) []target {
	var out []target
	var maxSeq, maxUID uint32
	for i := range v.Len() {
		if seq := sel.tracker.EncodeSeqNum(uint32(i + 1)); seq != 0 {
			maxSeq, maxUID = seq, v.At(i).UID
		}
	}
	for i := range v.Len() {
		seq := sel.tracker.EncodeSeqNum(uint32(i + 1))
		if seq == 0 {
			continue
		}
		var in bool
		switch set := set.(type) {
		case imap.UIDSet:
			in = uidIn(set, v.At(i).UID, maxUID)
		case imap.SeqSet:
			in = seqIn(set, seq, maxSeq)
		}
		if in {
			out = append(out, target{seq: seq, idx: i, msg: v.At(i)})
		}
	}
	return out
}

// TestResolveMatchesScan: for random sets, "*", reversed and
// overlapping ranges, with expunges the session has not been told of
// and messages it has not seen yet, resolve finds what a scan of every
// message finds.
func TestResolveMatchesScan(t *testing.T) {
	h := start(t, t.TempDir())
	for i := range 40 {
		h.deliver(testMsg(fmt.Sprint("m", i), "x"))
	}
	f := h.inbox()
	sel := &selected{folder: f}
	f.Locked(func(v *store.View) error {
		sel.tracker = trackerOf(v).NewSession()
		return v.Expunge([]int{0, 7, 8, 20}) // pending for the session
	})
	for i := range 3 {
		h.deliver(testMsg(fmt.Sprint("new", i), "x")) // not yet seen
	}
	rng := rand.New(rand.NewPCG(1, 2))
	num := func(max uint32) uint32 {
		switch rng.IntN(6) {
		case 0:
			return 0 // "*"
		case 1:
			return max + uint32(rng.IntN(5))
		case 2:
			return 4294967295
		}
		return uint32(rng.IntN(int(max))) + 1
	}
	f.Locked(func(v *store.View) error {
		for range 2000 {
			var sets []imap.NumSet
			var us imap.UIDSet
			var ss imap.SeqSet
			for range rng.IntN(3) + 1 {
				us = append(us, imap.UIDRange{Start: imap.UID(num(50)),
					Stop: imap.UID(num(50))})
				ss = append(ss, imap.SeqRange{Start: num(45), Stop: num(45)})
			}
			sets = append(sets, us, ss)
			for _, set := range sets {
				got, want := sel.resolve(v, set), sel.resolveScan(v, set)
				if !slices.Equal(got, want) {
					t.Fatalf("%v: %v, want %v", set, got, want)
				}
			}
		}
		return nil
	})
}
