package store

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"
)

// UIDListFile is the name of the UID list kept in every folder
// directory (INBOX's is in the Maildir root). Its format:
//
//	stratamail-uidlist 1
//	uidvalidity <n>
//	uidnext <n>
//	<uid> <key>
//	...
//
// Lines end in LF. UIDs are strictly increasing and below uidnext; a key
// is the Maildir base name without its ":2,flags" part and is unique.
// The file is rewritten whole: temp file, fsync, rename, fsync dir.
const UIDListFile = "stratamail-uidlist"

const uidListHeader = "stratamail-uidlist 1"

// uidEntry is one message of a UID list.
type uidEntry struct {
	UID uint32
	Key string
}

// uidList is the parsed content of a UID list file.
type uidList struct {
	Validity uint32
	Next     uint32
	Entries  []uidEntry
}

// parseUIDList parses a UID list file strictly: anything unexpected is
// an error, since guessing could hand out a UID twice.
func parseUIDList(data []byte) (*uidList, error) {
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(nil, 64*1024)
	l := &uidList{}
	line := 0
	fail := func(why string) (*uidList, error) {
		return nil, fmt.Errorf("uidlist line %d: %s", line, why)
	}
	for sc.Scan() {
		line++
		text := sc.Text()
		switch line {
		case 1:
			if text != uidListHeader {
				return fail("unknown header")
			}
			continue
		case 2, 3:
			want := map[int]string{2: "uidvalidity", 3: "uidnext"}[line]
			v, ok := parseField(text, want)
			if !ok || v == 0 {
				return fail("want " + want + " <number>")
			}
			if line == 2 {
				l.Validity = v
			} else {
				l.Next = v
			}
			continue
		}
		e, err := parseEntry(text)
		if err != nil {
			return fail(err.Error())
		}
		if n := len(l.Entries); n > 0 && e.UID <= l.Entries[n-1].UID {
			return fail("UIDs not increasing")
		}
		if e.UID >= l.Next {
			return fail("UID not below uidnext")
		}
		l.Entries = append(l.Entries, e)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("uidlist: %w", err)
	}
	if line < 3 {
		return nil, errors.New("uidlist: truncated header")
	}
	return l, l.checkKeys()
}

// parseField parses "<name> <number>".
func parseField(text, name string) (uint32, bool) {
	v, ok := strings.CutPrefix(text, name+" ")
	if !ok {
		return 0, false
	}
	n, err := strconv.ParseUint(v, 10, 32)
	return uint32(n), err == nil
}

// parseEntry parses "<uid> <key>".
func parseEntry(text string) (uidEntry, error) {
	num, key, ok := strings.Cut(text, " ")
	if !ok || !validKey(key) {
		return uidEntry{}, errors.New("want <uid> <key>")
	}
	n, err := strconv.ParseUint(num, 10, 32)
	if err != nil || n == 0 || num[0] == '0' {
		return uidEntry{}, errors.New("bad UID")
	}
	return uidEntry{UID: uint32(n), Key: key}, nil
}

// validKey reports whether key can be a message key: a usable file name
// without the Maildir info separator and without line breaks.
func validKey(key string) bool {
	return key != "" && key[0] != '.' && !strings.ContainsAny(key, ":/\n\r")
}

// checkKeys returns an error if a key appears twice.
func (l *uidList) checkKeys() error {
	seen := make(map[string]bool, len(l.Entries))
	for _, e := range l.Entries {
		if seen[e.Key] {
			return fmt.Errorf("uidlist: key %q listed twice", e.Key)
		}
		seen[e.Key] = true
	}
	return nil
}

// format renders the list in the file format parseUIDList reads.
func (l *uidList) format() []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "%s\nuidvalidity %d\nuidnext %d\n",
		uidListHeader, l.Validity, l.Next)
	for _, e := range l.Entries {
		fmt.Fprintf(&b, "%d %s\n", e.UID, e.Key)
	}
	return b.Bytes()
}

// writeFileAtomic replaces path with data durably: a temp file in the
// same directory, fsync, rename over path, fsync the directory.
func writeFileAtomic(path string, data []byte) error {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, ".tmp-"+filepath.Base(path)+"-*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
		return err
	}
	return SyncDir(dir)
}

var (
	validityMu   sync.Mutex
	lastValidity uint32
)

// newUIDValidity returns a UIDVALIDITY for a new UID list: the current
// time in seconds, but always above any value handed out before by this
// process, so that a folder deleted and re-created in the same second
// still gets a new one (RFC 3501 §2.3.1.1).
func newUIDValidity() uint32 {
	validityMu.Lock()
	defer validityMu.Unlock()
	v := uint32(time.Now().Unix())
	if v <= lastValidity {
		v = lastValidity + 1
	}
	lastValidity = v
	return v
}
