package store

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// ErrExists is returned when creating or renaming onto a folder that
// exists.
var ErrExists = errors.New("store: folder exists")

// ErrInbox is returned for operations INBOX does not support.
var ErrInbox = errors.New("store: not possible for INBOX")

// SubscriptionsFile is the file in the Maildir root listing subscribed
// folders, one name per line in modified UTF-7, as older Dovecot
// versions write it (and current ones still read).
const SubscriptionsFile = "subscriptions"

// Account is one user's shadow mailbox: a Maildir++ whose root is INBOX
// and whose other folders are ".Name" directories beside cur/new/tmp.
type Account struct {
	s    *Store
	root string
}

// Account opens the shadow mailbox of address (a login, lower case),
// creating it with the default folders on first use.
func (s *Store) Account(address string) (*Account, error) {
	root, err := s.MaildirPath(address)
	if err != nil {
		return nil, err
	}
	if err := EnsureMaildir(root); err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}
	return &Account{s: s, root: root}, nil
}

// Root returns the Maildir++ root directory.
func (a *Account) Root() string { return a.root }

// dir returns the directory of a canonical folder name.
func (a *Account) dir(name string) string {
	if name == Inbox {
		return a.root
	}
	return filepath.Join(a.root, dirName(name))
}

// exists reports whether the folder directory has a cur/ folder.
func exists(dir string) bool {
	fi, err := os.Stat(filepath.Join(dir, "cur"))
	return err == nil && fi.IsDir()
}

// Folder returns the shared state of an existing folder.
func (a *Account) Folder(name string) (*Folder, error) {
	name, err := ValidateName(name)
	if err != nil {
		return nil, err
	}
	dir := a.dir(name)
	if !exists(dir) {
		return nil, fmt.Errorf("%w: folder %q", ErrNotFound, name)
	}
	s := a.s
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.folders == nil {
		s.folders = map[string]*Folder{}
	}
	f := s.folders[dir]
	if f == nil {
		f = &Folder{name: name, dir: dir}
		s.folders[dir] = f
		// First use since start: clear what a crashed writer left.
		// A failure only leaves the files for the next start.
		sweepTmp(dir, time.Now())
	}
	return f, nil
}

// FolderInfo describes one folder of a listing.
type FolderInfo struct {
	// Name is the folder name, with '.' between levels.
	Name string
	// Exists is false for a level that only exists as the parent of
	// other folders (Maildir++ may have ".A.B" without ".A").
	Exists bool
	// HasChildren reports subfolders.
	HasChildren bool
}

// Folders lists the account's folders, INBOX first, then by name.
func (a *Account) Folders() ([]FolderInfo, error) {
	ents, err := os.ReadDir(a.root)
	if err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}
	names := map[string]bool{Inbox: true} // name → exists
	for _, e := range ents {
		name, ok := nameFromDir(e.Name())
		if !ok || !e.IsDir() || !exists(filepath.Join(a.root, e.Name())) {
			continue
		}
		names[name] = true
		for p := parent(name); p != ""; p = parent(p) {
			if !names[p] {
				names[p] = false
			}
		}
	}
	list := make([]FolderInfo, 0, len(names))
	for n, ok := range names {
		list = append(list, FolderInfo{Name: n, Exists: ok})
	}
	sort.Slice(list, func(i, j int) bool {
		return lessName(list[i].Name, list[j].Name)
	})
	for i := range list {
		list[i].HasChildren = hasChild(names, list[i].Name)
	}
	return list, nil
}

// hasChild reports whether any name in names is below name.
func hasChild(names map[string]bool, name string) bool {
	prefix := name + string(Delimiter)
	for n := range names {
		if strings.HasPrefix(n, prefix) {
			return true
		}
	}
	return false
}

// lessName orders INBOX first, then bytewise.
func lessName(a, b string) bool {
	if a == Inbox || b == Inbox {
		return a == Inbox && b != Inbox
	}
	return a < b
}

// parent returns the name one level up, "" at the top.
func parent(name string) string {
	i := strings.LastIndexByte(name, Delimiter)
	if i < 0 {
		return ""
	}
	return name[:i]
}

// Create makes a folder, and its missing parents, as Maildir++
// subfolders with a maildirfolder marker (RFC 3501 §6.3.3).
func (a *Account) Create(name string) error {
	name, err := ValidateName(name)
	if err != nil {
		return err
	}
	if name == Inbox || exists(a.dir(name)) {
		return fmt.Errorf("%w: %q", ErrExists, name)
	}
	levels := strings.Split(name, string(Delimiter))
	for i := range levels {
		dir := a.dir(strings.Join(levels[:i+1], string(Delimiter)))
		if exists(dir) {
			continue
		}
		if err := makeFolder(dir); err != nil {
			return fmt.Errorf("store: create %q: %w", name, err)
		}
	}
	return SyncDir(a.root)
}

// makeFolder creates one Maildir++ subfolder directory.
func makeFolder(dir string) error {
	if err := makeMaildir(dir); err != nil {
		return err
	}
	marker := filepath.Join(dir, "maildirfolder")
	f, err := os.OpenFile(marker, os.O_CREATE|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	return f.Close()
}

var trashSeq atomic.Uint64

// Delete removes a folder and its messages; its subfolders stay
// (RFC 3501 §6.3.4). The directory is first renamed to a name no
// listing shows, so a crash never leaves half a folder visible.
func (a *Account) Delete(name string) error {
	name, err := ValidateName(name)
	if err != nil {
		return err
	}
	if name == Inbox {
		return ErrInbox
	}
	dir := a.dir(name)
	trash := filepath.Join(a.root, fmt.Sprintf("..stratamail-deleted-%d-%d",
		os.Getpid(), trashSeq.Add(1)))
	err = a.s.retire([]string{dir}, func() error {
		if !exists(dir) {
			return fmt.Errorf("%w: folder %q", ErrNotFound, name)
		}
		return os.Rename(dir, trash)
	})
	if err != nil {
		return err
	}
	if err := SyncDir(a.root); err != nil {
		return err
	}
	return os.RemoveAll(trash)
}

// Rename renames a folder and all folders below it (RFC 3501 §6.3.5),
// and their subscriptions. Renaming INBOX is not supported.
//
// TODO: RENAME INBOX should move INBOX's messages into the new folder
// and leave INBOX empty.
func (a *Account) Rename(from, to string) error {
	from, err := ValidateName(from)
	if err != nil {
		return err
	}
	if to, err = ValidateName(to); err != nil {
		return err
	}
	if from == Inbox || to == Inbox {
		return ErrInbox
	}
	if to == from || strings.HasPrefix(to, from+string(Delimiter)) {
		return fmt.Errorf("%w: cannot rename %q into itself",
			ErrBadName, from)
	}
	moves, err := a.renames(from, to)
	if err != nil {
		return err
	}
	olds := make([]string, 0, len(moves))
	for old := range moves {
		olds = append(olds, old)
	}
	err = a.s.retire(olds, func() error { return a.doRenames(from, to, moves) })
	if err != nil {
		return err
	}
	if err := SyncDir(a.root); err != nil {
		return err
	}
	return a.renameSubscriptions(from, to)
}

// renames maps the directory of from and of each folder below it to its
// new directory, checking that from exists and to does not.
func (a *Account) renames(from, to string) (map[string]string, error) {
	if !exists(a.dir(from)) {
		return nil, fmt.Errorf("%w: folder %q", ErrNotFound, from)
	}
	if exists(a.dir(to)) {
		return nil, fmt.Errorf("%w: %q", ErrExists, to)
	}
	list, err := a.Folders()
	if err != nil {
		return nil, err
	}
	moves := map[string]string{}
	for _, fi := range list {
		rest, ok := strings.CutPrefix(fi.Name, from)
		if !fi.Exists || !ok || (rest != "" && rest[0] != Delimiter) {
			continue
		}
		if _, err := ValidateName(to + rest); err != nil {
			return nil, err
		}
		moves[a.dir(fi.Name)] = a.dir(to + rest)
	}
	return moves, nil
}

// doRenames creates the missing parents of to and moves the folders.
func (a *Account) doRenames(from, to string, moves map[string]string) error {
	if p := parent(to); p != "" && !exists(a.dir(p)) {
		if err := a.Create(p); err != nil {
			return err
		}
	}
	for old, dst := range moves {
		if _, err := os.Lstat(dst); err == nil {
			return fmt.Errorf("%w: %s", ErrExists, filepath.Base(dst))
		}
		if err := os.Rename(old, dst); err != nil {
			return fmt.Errorf("store: rename %q: %w", from, err)
		}
	}
	return nil
}

// retire runs op with the shared state of the given folder directories
// locked and marks it gone, so that sessions holding it learn the folder
// was deleted or renamed, and later lookups start afresh.
func (s *Store) retire(dirs []string, op func() error) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	var held []*Folder
	for _, d := range dirs {
		if f := s.folders[d]; f != nil {
			f.mu.Lock()
			held = append(held, f)
		}
	}
	err := op()
	for _, f := range held {
		if err == nil {
			f.gone = true
			delete(s.folders, f.dir)
		}
		f.mu.Unlock()
	}
	return err
}

var subMu sync.Mutex // serialises subscription file updates

// DefaultSubscriptions are reported while an account has no
// subscriptions file, so that clients showing only subscribed folders
// see the standard ones.
var DefaultSubscriptions = append([]string{Inbox}, DefaultFolders...)

// Subscriptions returns the subscribed folder names (RFC 3501 §6.3.6),
// which need not exist.
func (a *Account) Subscriptions() ([]string, error) {
	data, err := os.ReadFile(filepath.Join(a.root, SubscriptionsFile))
	if errors.Is(err, fs.ErrNotExist) {
		return append([]string(nil), DefaultSubscriptions...), nil
	}
	if err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}
	var names []string
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		n, err := DecodeMUTF7(strings.TrimRight(sc.Text(), "\r"))
		if err != nil {
			continue
		}
		if n, err = ValidateName(n); err == nil {
			names = append(names, n)
		}
	}
	return names, nil
}

// Subscribe adds name to the subscriptions.
func (a *Account) Subscribe(name string) error {
	name, err := ValidateName(name)
	if err != nil {
		return err
	}
	return a.editSubscriptions(func(l []string) []string {
		for _, n := range l {
			if n == name {
				return l
			}
		}
		return append(l, name)
	})
}

// Unsubscribe removes name from the subscriptions.
func (a *Account) Unsubscribe(name string) error {
	if n, err := ValidateName(name); err == nil {
		name = n
	}
	return a.editSubscriptions(func(l []string) []string {
		out := l[:0]
		for _, n := range l {
			if n != name {
				out = append(out, n)
			}
		}
		return out
	})
}

// renameSubscriptions follows a folder rename in the subscriptions.
func (a *Account) renameSubscriptions(from, to string) error {
	return a.editSubscriptions(func(l []string) []string {
		for i, n := range l {
			if n == from || strings.HasPrefix(n, from+".") {
				l[i] = to + n[len(from):]
			}
		}
		return l
	})
}

// editSubscriptions rewrites the subscriptions file through edit.
func (a *Account) editSubscriptions(edit func([]string) []string) error {
	subMu.Lock()
	defer subMu.Unlock()
	l, err := a.Subscriptions()
	if err != nil {
		return err
	}
	var b bytes.Buffer
	for _, n := range edit(l) {
		b.WriteString(EncodeMUTF7(n) + "\n")
	}
	path := filepath.Join(a.root, SubscriptionsFile)
	return writeFileAtomic(path, b.Bytes())
}
