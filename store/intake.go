package store

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

// Spool is one incoming message being written to the intake spool.
// Write the message, Commit it, link it where it belongs (DeliverNew,
// relayq), then Discard the spool name: the links keep the data.
type Spool struct {
	f    *os.File
	path string
	size int64
}

var spoolSeq atomic.Uint64

// NewSpool creates an empty spool file (O_EXCL, mode 0600).
func (s *Store) NewSpool() (*Spool, error) {
	name := fmt.Sprintf("%d.%d.%d.spool", time.Now().UnixNano(),
		os.Getpid(), spoolSeq.Add(1))
	p := filepath.Join(s.spoolDir, name)
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, fmt.Errorf("store: spool: %w", err)
	}
	return &Spool{f: f, path: p}, nil
}

// Write appends p to the spooled message.
func (sp *Spool) Write(p []byte) (int, error) {
	n, err := sp.f.Write(p)
	sp.size += int64(n)
	return n, err
}

// Size returns the number of bytes written so far.
func (sp *Spool) Size() int64 { return sp.size }

// Path returns the spool file's path, for linking.
func (sp *Spool) Path() string { return sp.path }

// Commit makes the written message durable: fsync, then close.
func (sp *Spool) Commit() error {
	err := sp.f.Sync()
	if cerr := sp.f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("store: spool: %w", err)
	}
	return nil
}

// Discard removes the spool name. Call it after the message is linked
// everywhere it belongs, or to abandon it.
func (sp *Spool) Discard() error {
	sp.f.Close() // already closed after Commit; the error is moot
	err := os.Remove(sp.path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	return err
}

// Delivery records the Maildir links made by DeliverNew so that a failed
// intake can take them back.
type Delivery struct {
	// Paths are the files created in each recipient's new/.
	Paths []string
}

// Undo removes the links of d. Intake calls it when a later step fails,
// so that no half-delivered copies remain.
func (d *Delivery) Undo() error {
	var errs []error
	dirs := map[string]bool{}
	for _, p := range d.Paths {
		if err := os.Remove(p); err != nil &&
			!errors.Is(err, os.ErrNotExist) {
			errs = append(errs, err)
		}
		dirs[filepath.Dir(p)] = true
	}
	for dir := range dirs {
		if err := SyncDir(dir); err != nil {
			errs = append(errs, err)
		}
	}
	d.Paths = nil
	return errors.Join(errs...)
}

// DeliverNew hard-links a committed spool file into the INBOX new/ folder
// of every address (each localpart@domain, already resolved to its user),
// creating the Maildir on first use, and fsyncs each new/ directory. On
// error the links already made are removed again.
func (s *Store) DeliverNew(sp *Spool, addresses []string) (*Delivery, error) {
	d := &Delivery{}
	for _, addr := range addresses {
		root, err := s.MaildirPath(addr)
		if err == nil {
			err = EnsureMaildir(root)
		}
		var dst string
		if err == nil {
			dst = filepath.Join(root, "new", UniqueName(sp.size))
			err = os.Link(sp.path, dst)
		}
		if err == nil {
			d.Paths = append(d.Paths, dst)
			err = SyncDir(filepath.Join(root, "new"))
		}
		if err != nil {
			d.Undo()
			return nil, fmt.Errorf("store: deliver to %s: %w", addr, err)
		}
	}
	return d, nil
}

var (
	uniqSeq  atomic.Uint64
	hostname = maildirHostname()
)

// UniqueName returns a new Maildir base name for a message of size bytes,
// in the form Dovecot writes: <secs>.M<usecs>P<pid>Q<n>.<host>,S=<size>.
// The S= field lets readers learn the size without a stat.
func UniqueName(size int64) string {
	now := time.Now()
	return fmt.Sprintf("%d.M%06dP%dQ%d.%s,S=%d", now.Unix(),
		now.Nanosecond()/1000, os.Getpid(), uniqSeq.Add(1), hostname, size)
}

// maildirHostname returns the host name with the characters Maildir
// reserves ('/' and ':') encoded as the convention says.
func maildirHostname() string {
	h, err := os.Hostname()
	if err != nil || h == "" {
		h = "localhost"
	}
	r := strings.NewReplacer("/", `\057`, ":", `\072`, ",", `\054`)
	return r.Replace(h)
}

// DefaultFolders are the folders every shadow mailbox has besides INBOX,
// made on first use.
var DefaultFolders = []string{"Sent", "Drafts", "Trash", "Junk"}

// EnsureMaildir creates the Maildir++ at root if it is missing: cur, new
// and tmp, and the default folders as .Name subdirectories marked with a
// maildirfolder file, as Dovecot lays them out.
//
// TODO: a crash after new/ exists but before the default folders do
// leaves them missing, since new/ is what marks the Maildir as made;
// the IMAP login should make missing special-use folders (issue 3).
func EnsureMaildir(root string) error {
	if _, err := os.Stat(filepath.Join(root, "new")); err == nil {
		return nil
	}
	if err := makeMaildir(root); err != nil {
		return err
	}
	for _, name := range DefaultFolders {
		if err := makeFolder(filepath.Join(root, "."+name)); err != nil {
			return err
		}
	}
	if err := SyncDir(root); err != nil {
		return err
	}
	return SyncDir(filepath.Dir(root))
}

func makeMaildir(dir string) error {
	for _, sub := range []string{"tmp", "cur", "new"} {
		if err := os.MkdirAll(filepath.Join(dir, sub), 0o700); err != nil {
			return err
		}
	}
	return nil
}

// uniqueNameSize parses the S= size of a Maildir base name; ok is false
// when the name carries none.
func uniqueNameSize(name string) (size int64, ok bool) {
	base, _, _ := strings.Cut(name, ":")
	for _, f := range strings.Split(base, ",")[1:] {
		if v, found := strings.CutPrefix(f, "S="); found {
			n, err := strconv.ParseInt(v, 10, 64)
			return n, err == nil
		}
	}
	return 0, false
}
