package store

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"
)

// ErrGone is returned by a Folder that was deleted or renamed after it
// was opened.
var ErrGone = errors.New("store: folder was deleted or renamed")

// ErrNotFound is returned for a folder or message that does not exist.
var ErrNotFound = errors.New("store: not found")

// Message is one message of a folder, as of the moment it was read.
type Message struct {
	// UID is the message's IMAP UID, unique in the folder for as long
	// as its UIDVALIDITY lasts.
	UID uint32
	// Key is the Maildir base name without the ":2,flags" info.
	Key string
	// Flags are the Maildir flag letters, sorted (see Flag*).
	Flags string
	// Size is the file size in bytes (from the ",S=" hint when the name
	// has one).
	Size int64
	// Path is the file's path when the message was read; flag changes
	// rename the file.
	Path string
}

// Has reports whether m carries flag letter f.
func (m Message) Has(f byte) bool { return strings.IndexByte(m.Flags, f) >= 0 }

// Observer learns of every change to a folder's message list, in order.
// Its methods are called with the folder locked, so an Observer needs no
// locking of its own for state only they touch. Sequence numbers are
// 1-based positions in the list as it is just before the change.
type Observer interface {
	// Expunged reports that the message at seq left the folder.
	Expunged(seq uint32)
	// Appended reports one new message at the end; count is the new
	// number of messages. It is called once per message.
	Appended(count uint32)
	// FlagsChanged reports new flags of the message at seq; source is
	// whatever the caller of View.SetFlags passed (nil for changes made
	// on disk by others).
	FlagsChanged(seq uint32, m Message, source any)
}

// Folder is the shared, in-memory state of one Maildir folder: its UID
// list and message list. One Folder exists per folder directory in a
// Store, so every session of a user sees the same state; its lock is the
// folder's lock, held briefly.
type Folder struct {
	name string
	dir  string

	mu     sync.Mutex
	gone   bool
	loaded bool
	list   uidList
	msgs   []Message
	obs    Observer

	lc listCache // see listcache.go

	seen   dirStamp  // new/ and cur/ at the last directory read
	readAt time.Time // when that was, on the monotonic clock
}

// rescanEvery bounds how long an unchanged-looking folder goes without
// a directory read.
const rescanEvery = 10 * time.Second

// dirStamp is the modification times of a folder's new/ and cur/.
type dirStamp struct {
	newT, curT time.Time
	ok         bool
}

// stamp returns the folder's dirStamp, not ok when a stat fails.
func (f *Folder) stamp() dirStamp {
	n, err1 := os.Stat(filepath.Join(f.dir, "new"))
	c, err2 := os.Stat(filepath.Join(f.dir, "cur"))
	if err1 != nil || err2 != nil {
		return dirStamp{}
	}
	return dirStamp{n.ModTime(), c.ModTime(), true}
}

// Name returns the folder's name ("INBOX", "Sent", "A.B").
func (f *Folder) Name() string { return f.name }

// Dir returns the folder's Maildir directory (holding new/ and cur/).
func (f *Folder) Dir() string { return f.dir }

// Locked brings the folder up to date with the disk and calls fn with
// the folder locked. fn must not keep v, and should not block: other
// sessions wait for it.
func (f *Folder) Locked(fn func(v *View) error) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.gone {
		return ErrGone
	}
	if err := f.scan(); err != nil {
		return err
	}
	return fn(&View{f: f})
}

// View is a locked folder, handed to the function given to Locked.
type View struct {
	f *Folder
}

// Len returns the number of messages.
func (v *View) Len() int { return len(v.f.msgs) }

// At returns the message at 0-based index i (sequence number i+1).
func (v *View) At(i int) Message { return v.f.msgs[i] }

// Find returns the index of the message with uid.
func (v *View) Find(uid uint32) (int, bool) {
	m := v.f.msgs
	i := sort.Search(len(m), func(i int) bool { return m[i].UID >= uid })
	return i, i < len(m) && m[i].UID == uid
}

// UIDValidity returns the folder's UIDVALIDITY.
func (v *View) UIDValidity() uint32 { return v.f.list.Validity }

// UIDNext returns the UID the next message will get.
func (v *View) UIDNext() uint32 { return v.f.list.Next }

// Observer returns the folder's observer, nil if none was set.
func (v *View) Observer() Observer { return v.f.obs }

// SetObserver sets the observer told of every later change.
func (v *View) SetObserver(o Observer) { v.f.obs = o }

// SetFlags replaces the flag letters of message i and returns it. The
// file is renamed to carry them (a message in new/ moves to cur/, keeping
// its key and so its UID); letters outside FlagLetters that the file
// already had (Dovecot's keywords) are kept.
func (v *View) SetFlags(i int, flags string, source any) (Message, error) {
	m := v.f.msgs[i]
	want := mergeFlags(NormalizeFlags(flags), m.Flags)
	if want == m.Flags && filepath.Base(filepath.Dir(m.Path)) == "cur" {
		return m, nil
	}
	dst := filepath.Join(v.f.dir, "cur", m.Key+":2,"+want)
	if err := os.Rename(m.Path, dst); err != nil {
		return m, fmt.Errorf("store: set flags: %w", err)
	}
	changed := want != m.Flags
	m.Flags, m.Path = want, dst
	v.f.msgs[i] = m
	if changed && v.f.obs != nil {
		v.f.obs.FlagsChanged(uint32(i+1), m, source)
	}
	return m, nil
}

// Expunge removes the messages at the given indices: their files are
// unlinked first, then the UID list is saved, so a crash can never bring
// a removed message back. Observers learn of each removal, highest
// sequence number first.
func (v *View) Expunge(idx []int) error {
	f := v.f
	idx = append([]int(nil), idx...)
	sort.Sort(sort.Reverse(sort.IntSlice(idx)))
	var errs []error
	removed := map[int]bool{}
	for _, i := range idx {
		err := os.Remove(f.msgs[i].Path)
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			errs = append(errs, err)
			continue
		}
		removed[i] = true
	}
	if len(removed) > 0 {
		if err := SyncDir(filepath.Join(f.dir, "cur")); err != nil {
			errs = append(errs, err)
		}
		keep := f.without(removed)
		if err := f.save(keep); err != nil {
			// The files are gone; the next scan drops their UIDs.
			errs = append(errs, err)
		}
		f.notifyExpunged(idx, removed)
		f.msgs = keep
	}
	if len(errs) > 0 {
		return fmt.Errorf("store: expunge: %w", errors.Join(errs...))
	}
	return nil
}

// without returns the message list minus the removed indices.
func (f *Folder) without(removed map[int]bool) []Message {
	keep := make([]Message, 0, len(f.msgs)-len(removed))
	for i, m := range f.msgs {
		if !removed[i] {
			keep = append(keep, m)
		}
	}
	return keep
}

// notifyExpunged tells the observer of removals; idx is sorted highest
// first so each sequence number is valid when it is reported.
func (f *Folder) notifyExpunged(idx []int, removed map[int]bool) {
	if f.obs == nil {
		return
	}
	for _, i := range idx {
		if removed[i] {
			f.obs.Expunged(uint32(i + 1))
		}
	}
}

// save writes the UID list for msgs, keeping validity and next.
func (f *Folder) save(msgs []Message) error {
	l := uidList{Validity: f.list.Validity, Next: f.list.Next}
	l.Entries = make([]uidEntry, len(msgs))
	for i, m := range msgs {
		l.Entries[i] = uidEntry{UID: m.UID, Key: m.Key}
	}
	err := writeFileAtomic(filepath.Join(f.dir, UIDListFile), l.format())
	if err != nil {
		return fmt.Errorf("store: save uid list: %w", err)
	}
	f.list = l
	return nil
}

// diskEntry is a message file found by a scan.
type diskEntry struct {
	path  string
	flags string
}

// scan reads new/ and cur/ and brings the message list up to date: a
// vanished file expunges its UID only, unknown files get the next UIDs
// in the order of their keys, and the UID list is saved before anyone
// is told of new messages. It runs with f.mu held.
//
// The folders are read again only when new/ or cur/ changed since the
// last read (their modification times), or rescanEvery after it: a
// folder of 100,000 messages then costs two stat calls per command
// instead of two directory reads. The timed read catches two changes
// within one tick of the filesystem's clock, which leave the time as
// it was after the first.
func (f *Folder) scan() error {
	if !f.loaded {
		if err := f.load(); err != nil {
			return err
		}
	}
	st := f.stamp()
	if st.ok && st == f.seen && time.Since(f.readAt) < rescanEvery {
		return nil
	}
	disk, err := f.readDisk()
	if err != nil {
		return err
	}
	f.seen, f.readAt = st, time.Now()
	var gone []int
	keep := make([]Message, 0, len(f.msgs))
	for i, m := range f.msgs {
		d, ok := disk[m.Key]
		if !ok {
			gone = append(gone, i)
			continue
		}
		delete(disk, m.Key)
		m.Path = d.path
		if m.Size == 0 {
			m.Size, _ = fileSize(d.path)
		}
		changed := m.Flags != d.flags
		m.Flags = d.flags
		f.msgs[i] = m
		if changed && f.obs != nil {
			f.obs.FlagsChanged(uint32(i+1), m, nil)
		}
		keep = append(keep, m)
	}
	if len(gone) == 0 && len(disk) == 0 {
		return nil
	}
	return f.commit(keep, gone, disk)
}

// commit assigns UIDs to the new files in disk, saves the UID list and
// only then replaces the message list and informs the observer.
func (f *Folder) commit(keep []Message, gone []int,
	disk map[string]diskEntry) error {
	keys := make([]string, 0, len(disk))
	for k := range disk {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	next := f.list.Next
	added := make([]Message, 0, len(keys))
	for _, k := range keys {
		d := disk[k]
		size, err := fileSize(d.path)
		if err != nil {
			continue // vanished meanwhile; the next scan settles it
		}
		added = append(added, Message{UID: next, Key: k,
			Flags: d.flags, Size: size, Path: d.path})
		next++
	}
	oldNext := f.list.Next
	f.list.Next = next
	if err := f.save(append(keep, added...)); err != nil {
		f.list.Next = oldNext
		return err
	}
	removed := map[int]bool{}
	for _, i := range gone {
		removed[i] = true
	}
	sort.Sort(sort.Reverse(sort.IntSlice(gone)))
	f.notifyExpunged(gone, removed)
	f.msgs = keep
	for _, m := range added {
		f.msgs = append(f.msgs, m)
		if f.obs != nil {
			f.obs.Appended(uint32(len(f.msgs)))
		}
	}
	return nil
}

// fileSize returns the size of a message file just listed: the ",S="
// hint of its name, taken without a system call (a cold folder of
// 100,000 messages would otherwise pay as many stat calls; a file gone
// meanwhile leaves at the next scan), or its length.
func fileSize(path string) (int64, error) {
	if n, ok := uniqueNameSize(filepath.Base(path)); ok {
		return n, nil
	}
	fi, err := os.Stat(path)
	if err != nil {
		return 0, err
	}
	return fi.Size(), nil
}

// readDisk lists the message files of new/ and cur/ by key. A file in
// cur/ wins over one with the same key in new/; names that cannot be
// keys (line breaks, leading dot) are skipped.
func (f *Folder) readDisk() (map[string]diskEntry, error) {
	// Sized for what the folder holds: growing a map of 100,000 entries
	// step by step costs more than reading the directories.
	disk := make(map[string]diskEntry, len(f.msgs)+64)
	for _, sub := range []string{"new", "cur"} {
		dir := filepath.Join(f.dir, sub)
		ents, err := readDirUnsorted(dir)
		if errors.Is(err, fs.ErrNotExist) {
			if _, serr := os.Stat(f.dir); serr != nil {
				return nil, ErrGone
			}
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("store: %w", err)
		}
		for _, e := range ents {
			key, flags, ok := splitName(e.Name())
			if !ok || !e.Type().IsRegular() {
				continue
			}
			// dir is clean and a name holds no "/": no Join needed.
			disk[key] = diskEntry{dir + "/" + e.Name(), flags}
		}
	}
	return disk, nil
}

// readDirUnsorted is os.ReadDir without its sort by name, which a
// folder of 100,000 messages would pay on every read.
func readDirUnsorted(dir string) ([]fs.DirEntry, error) {
	d, err := os.Open(dir)
	if err != nil {
		return nil, err
	}
	defer d.Close()
	return d.ReadDir(-1)
}

// splitName splits a Maildir base name into key and sorted flag letters.
// A name without ":2," info has no flags.
func splitName(name string) (key, flags string, ok bool) {
	key, info, _ := strings.Cut(name, ":")
	if !validKey(key) {
		return "", "", false
	}
	if f, found := strings.CutPrefix(info, "2,"); found {
		flags = sortLetters(f)
	}
	return key, flags, true
}

// load reads the UID list file, or starts a new one with a fresh
// UIDVALIDITY when there is none. A corrupt file is kept aside under a
// new name and the folder starts over with a new UIDVALIDITY, which
// tells clients to forget the UIDs they cached.
func (f *Folder) load() error {
	path := filepath.Join(f.dir, UIDListFile)
	data, err := os.ReadFile(path)
	var l *uidList
	switch {
	case err == nil:
		l, err = parseUIDList(data)
		if err != nil {
			aside := fmt.Sprintf("%s.corrupt-%d", path, newUIDValidity())
			if rerr := os.Rename(path, aside); rerr != nil {
				return fmt.Errorf("store: %s: %w", path, err)
			}
			l = nil
		}
	case errors.Is(err, fs.ErrNotExist):
		if _, serr := os.Stat(f.dir); serr != nil {
			return ErrGone
		}
	default:
		return fmt.Errorf("store: %w", err)
	}
	fresh := l == nil
	if fresh {
		l = &uidList{Validity: newUIDValidity(), Next: 1}
	}
	f.list = *l
	f.msgs = make([]Message, len(l.Entries))
	for i, e := range l.Entries {
		f.msgs[i] = Message{UID: e.UID, Key: e.Key}
	}
	if fresh {
		// Persist the UIDVALIDITY at once: clients may cache it.
		if err := f.save(nil); err != nil {
			return err
		}
	}
	f.loaded = true
	f.loadListCacheAsync(slices.Clone(f.msgs))
	return nil
}

// Open opens the file of the message with uid. When a concurrent flag
// change renamed it, the folder is rescanned and the new name tried; a
// message no longer in the folder gives ErrNotFound.
func (f *Folder) Open(uid uint32) (*os.File, Message, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.gone {
		return nil, Message{}, ErrGone
	}
	v := &View{f: f}
	for attempt := 0; ; attempt++ {
		i, ok := v.Find(uid)
		if ok && f.msgs[i].Path != "" {
			fh, err := os.Open(f.msgs[i].Path)
			if err == nil {
				return fh, f.msgs[i], nil
			}
			if !errors.Is(err, fs.ErrNotExist) {
				return nil, Message{}, fmt.Errorf("store: %w", err)
			}
		}
		if attempt > 0 {
			return nil, Message{}, fmt.Errorf("%w: UID %d", ErrNotFound, uid)
		}
		f.seen = dirStamp{} // the file moved: read the folders again
		if err := f.scan(); err != nil {
			return nil, Message{}, err
		}
	}
}
