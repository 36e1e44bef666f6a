// Package store owns the shadow mailboxes: one Maildir++ per user under
// <data_dir>/mail/<domain>/<localpart>/, in the layout Dovecot uses, plus
// the bookkeeping beside it (IMAP UID lists) and the intake spool.
//
// Intake writes each message once into the spool, fsyncs it and hard-links
// it into every recipient's new/ directory (and, through relayq, into the
// relay queue). A message file is never modified in place: the links share
// one inode. store imports none of our other packages.
//
// For IMAP, store keeps a persistent UID list per folder (UIDListFile),
// the subscriptions file, and one shared in-memory Folder per folder
// directory whose lock serialises every change; observers (imapd's
// trackers) learn of changes under that lock. store never speaks a
// protocol, never parses message contents and never edits a message
// file: flags live in file names, changes are renames and links.
package store

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
)

// Store is the mail part of a data directory.
type Store struct {
	dataDir  string
	mailDir  string // <data_dir>/mail
	spoolDir string // <data_dir>/tmp

	// Swept is the number of files Open removed from the spool: the
	// leftovers of an earlier run stopped mid-transaction.
	Swept int

	mu      sync.Mutex         // guards folders; taken before Folder.mu
	folders map[string]*Folder // folder directory → shared state
}

// Open prepares dataDir for use: it creates the mail and spool folders,
// checks that they are on one filesystem, since intake hard-links
// between them, and empties the spool of an earlier run's leftovers.
func Open(dataDir string) (*Store, error) {
	s := &Store{
		dataDir:  dataDir,
		mailDir:  filepath.Join(dataDir, "mail"),
		spoolDir: filepath.Join(dataDir, "tmp"),
	}
	for _, d := range []string{dataDir, s.mailDir, s.spoolDir} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return nil, fmt.Errorf("store: %w", err)
		}
	}
	if err := SameFilesystem(dataDir, s.mailDir, s.spoolDir); err != nil {
		return nil, err
	}
	n, err := sweepSpool(s.spoolDir)
	if err != nil {
		return nil, err
	}
	s.Swept = n
	return s, nil
}

// DataDir returns the data directory the store was opened on.
func (s *Store) DataDir() string { return s.dataDir }

// SpoolDir returns the intake spool folder, <data_dir>/tmp.
func (s *Store) SpoolDir() string { return s.spoolDir }

// MaildirPath returns the root of the Maildir++ for address
// (localpart@domain). It refuses addresses whose parts could name a
// path outside the mail folder.
func (s *Store) MaildirPath(address string) (string, error) {
	local, domain, ok := strings.Cut(strings.ToLower(address), "@")
	if !ok || !safeComponent(local) || !safeComponent(domain) {
		return "", fmt.Errorf("store: unusable address %q", address)
	}
	return filepath.Join(s.mailDir, domain, local), nil
}

// safeComponent reports whether name is usable as one path component.
func safeComponent(name string) bool {
	if name == "" || name == "." || name == ".." || len(name) > 255 {
		return false
	}
	for _, r := range name {
		if r == '/' || r == '\\' || r < 0x20 || r == 0x7f {
			return false
		}
	}
	return true
}

// SameFilesystem returns an error unless all paths are on one device.
func SameFilesystem(paths ...string) error {
	var dev uint64
	for i, p := range paths {
		fi, err := os.Stat(p)
		if err != nil {
			return fmt.Errorf("store: %w", err)
		}
		st, ok := fi.Sys().(*syscall.Stat_t)
		if !ok {
			return errors.New("store: cannot read device numbers")
		}
		if i == 0 {
			dev = uint64(st.Dev)
		} else if uint64(st.Dev) != dev {
			return fmt.Errorf("store: %s and %s are on different "+
				"filesystems; hard links need one", paths[0], p)
		}
	}
	return nil
}

// SyncDir fsyncs a directory, making entries created or removed in it
// durable.
func SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}

// FreeDisk returns the bytes an unprivileged writer may still use on
// the filesystem of dir, or -1 if that cannot be known.
func FreeDisk(dir string) int64 {
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		return -1
	}
	return int64(st.Bavail) * st.Bsize
}
