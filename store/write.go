package store

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"
)

// ErrTruncated is returned by Append when the reader ends before the
// announced size.
var ErrTruncated = errors.New("store: message shorter than announced")

// Source is a message file for Import: its path and the flag letters
// the copy gets.
type Source struct {
	Path  string
	Flags string
}

// addItem is one file to add to a folder.
type addItem struct {
	src   string
	flags string
	move  bool // rename src instead of linking it
}

// Import adds copies of messages to the folder, as IMAP COPY and MOVE
// need: each source is hard-linked into cur/ under a new unique name
// (copied when a link is impossible), cur/ is fsynced, and the new
// messages get UIDs in the order given. It returns the folder's
// UIDVALIDITY and the new UIDs; on error nothing is added.
func (f *Folder) Import(srcs []Source) (uint32, []uint32, error) {
	items := make([]addItem, len(srcs))
	for i, s := range srcs {
		items[i] = addItem{src: s.Path, flags: s.Flags}
	}
	return f.add(items)
}

// Append stores one message read from r, which must yield exactly size
// bytes (IMAP APPEND, RFC 3501 §6.3.11): it is written to tmp/ and
// fsynced, given date as its internal date (file mtime) unless date is
// zero, moved into cur/ with flags, and cur/ is fsynced before the UID
// is returned.
func (f *Folder) Append(r io.Reader, size int64, flags string,
	date time.Time) (validity, uid uint32, err error) {
	tmp := filepath.Join(f.dir, "tmp", UniqueName(size))
	if err := writeMessage(tmp, r, size); err != nil {
		return 0, 0, err
	}
	defer os.Remove(tmp) // gone after a successful move
	if !date.IsZero() {
		if err := os.Chtimes(tmp, date, date); err != nil {
			return 0, 0, fmt.Errorf("store: append: %w", err)
		}
	}
	v, uids, err := f.add([]addItem{{src: tmp, flags: flags, move: true}})
	if err != nil {
		return 0, 0, err
	}
	return v, uids[0], nil
}

// writeMessage creates path (O_EXCL, 0600) with exactly size bytes of r
// and fsyncs it; a short or long read removes it and fails.
func writeMessage(path string, r io.Reader, size int64) error {
	fh, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("store: append: %w", err)
	}
	n, err := io.Copy(fh, io.LimitReader(r, size+1))
	if err == nil && n != size {
		err = fmt.Errorf("%w (%d of %d bytes)", ErrTruncated, n, size)
	}
	if err == nil {
		err = fh.Sync()
	}
	if cerr := fh.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(path)
		if !errors.Is(err, ErrTruncated) {
			err = fmt.Errorf("store: append: %w", err)
		}
		return err
	}
	return nil
}

// add places items in cur/ and assigns their UIDs, all under the folder
// lock, after a scan has numbered any files that arrived before.
func (f *Folder) add(items []addItem) (uint32, []uint32, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.gone {
		return 0, nil, ErrGone
	}
	if err := f.scan(); err != nil {
		return 0, nil, err
	}
	added, err := f.place(items)
	if err != nil {
		return 0, nil, err
	}
	uids, err := f.number(added)
	if err != nil {
		for _, m := range added {
			os.Remove(m.Path)
		}
		return 0, nil, err
	}
	return f.list.Validity, uids, nil
}

// place links, copies or moves each item into cur/ and fsyncs cur/. On
// error the files placed so far are removed again.
func (f *Folder) place(items []addItem) ([]Message, error) {
	cur := filepath.Join(f.dir, "cur")
	var added []Message
	undo := func(err error) ([]Message, error) {
		for _, m := range added {
			os.Remove(m.Path)
		}
		return nil, fmt.Errorf("store: add to %q: %w", f.name, err)
	}
	for _, it := range items {
		fi, err := os.Stat(it.src)
		if err != nil {
			return undo(err)
		}
		key := UniqueName(fi.Size())
		flags := NormalizeFlags(it.flags)
		dst := filepath.Join(cur, key+":2,"+flags)
		if err := f.placeOne(it, dst); err != nil {
			return undo(err)
		}
		added = append(added, Message{Key: key, Flags: flags,
			Size: fi.Size(), Path: dst})
	}
	if err := SyncDir(cur); err != nil {
		return undo(err)
	}
	return added, nil
}

// placeOne puts one item at dst.
func (f *Folder) placeOne(it addItem, dst string) error {
	if it.move {
		return os.Rename(it.src, dst)
	}
	err := os.Link(it.src, dst)
	if err == nil || errors.Is(err, os.ErrNotExist) {
		return err
	}
	// Cross-device or no hard links here: copy durably instead.
	src, err := os.Open(it.src)
	if err != nil {
		return err
	}
	defer src.Close()
	fi, err := src.Stat()
	if err != nil {
		return err
	}
	tmp := filepath.Join(f.dir, "tmp", filepath.Base(dst))
	if err := writeMessage(tmp, src, fi.Size()); err != nil {
		return err
	}
	os.Chtimes(tmp, fi.ModTime(), fi.ModTime())
	return os.Rename(tmp, dst)
}

// number gives the placed messages the next UIDs, saves the UID list
// and tells the observer.
func (f *Folder) number(added []Message) ([]uint32, error) {
	next := f.list.Next
	uids := make([]uint32, len(added))
	for i := range added {
		added[i].UID = next
		uids[i] = next
		next++
	}
	oldNext := f.list.Next
	f.list.Next = next
	all := append(append([]Message(nil), f.msgs...), added...)
	if err := f.save(all); err != nil {
		f.list.Next = oldNext
		return nil, err
	}
	for _, m := range added {
		f.msgs = append(f.msgs, m)
		if f.obs != nil {
			f.obs.Appended(uint32(len(f.msgs)))
		}
	}
	return uids, nil
}
