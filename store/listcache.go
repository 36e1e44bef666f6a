package store

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// The list cache keeps, for each message of a folder, what a mail
// client's message list asks for: the size, the arrival time and a set
// of header fields (ListFields). Roundcube fetches those of every
// message of a folder to sort it; with the cache that reads one file
// instead of every message, and a restart reads it back instead of
// parsing every message again.
//
// It is a cache: always rebuildable from the messages, never trusted
// over them. A message file never changes once written (its flags live
// in its name), so an entry never goes stale; entries of messages that
// are gone are dropped when the file is compacted.
//
// On disk, beside the UID list, the file ListCacheFile holds a version
// line and then one record per message, appended as messages are first
// listed: a line of numbers and then the fields themselves, as they are,
// so that loading needs no unquoting and the entries' fields can point
// into the one buffer the file was read into:
//
//	stratamail-listcache 2
//	<key> TAB <size> TAB <arrival> TAB <date> TAB <complete> TAB <length> LF
//	<length bytes: the fields> LF
//
// Times are Unix nanoseconds, <date> "-" without a valid Date field;
// <complete> is "+" for a header read whole and "-" otherwise. A
// record that does not parse (a crash in mid-append) is skipped by
// looking for the next line that parses, and the file is rewritten.
// Version 1 files (one Go-quoted line per message) are read and
// rewritten as version 2.

// ListCacheFile is the list cache's file name in a folder.
const ListCacheFile = "stratamail-listcache"

const (
	listCacheHeader   = "stratamail-listcache 2"
	listCacheHeaderV1 = "stratamail-listcache 1"
)

// ListFields are the header fields the list cache keeps, in lower case:
// those of an ENVELOPE (RFC 3501 §7.4.2) and of Roundcube's list view.
var ListFields = []string{"date", "from", "sender", "reply-to", "to",
	"cc", "bcc", "subject", "message-id", "in-reply-to", "references",
	"content-type", "list-post", "disposition-notification-to",
	"x-priority", "importance"}

// maxListHeader bounds the header read to fill an entry; fields past it
// are not cached, and ListCached then says the header may be incomplete.
const maxListHeader = 256 << 10

// ListEntry is what the list cache knows of one message.
type ListEntry struct {
	// Size is the message's size in bytes.
	Size int64
	// Arrived is the message's arrival (its file's modification time),
	// IMAP's INTERNALDATE.
	Arrived time.Time
	// Fields are the message's ListFields header lines, as they are in
	// the message, in their order, CRLF-terminated.
	Fields []byte
	// Complete is false when the header was too long to read whole, so
	// that Fields may miss some.
	Complete bool
	// Date is the message's Date field, parsed once when the entry is
	// made or loaded (a SORT by date reads it for every message); zero
	// when the field is missing or does not parse.
	Date time.Time
}

// newListEntry returns an entry with its Date filled from fields.
func newListEntry(size int64, arrived time.Time, fields []byte,
	complete bool) *ListEntry {
	e := &ListEntry{Size: size, Arrived: arrived, Fields: fields,
		Complete: complete}
	if v := FieldValue(fields, "date"); v != "" {
		e.Date, _ = ParseDate(v)
	}
	return e
}

// FieldValue returns the unfolded value of the first field named name
// (any case) in the header lines hdr, trimmed; "" without one.
func FieldValue(hdr []byte, name string) string {
	var val []byte
	in := false
	for len(hdr) > 0 {
		line := hdr
		if i := bytes.IndexByte(hdr, '\n'); i >= 0 {
			line = hdr[:i+1]
		}
		hdr = hdr[len(line):]
		line = bytes.TrimRight(line, "\r\n")
		if len(line) > 0 && (line[0] == ' ' || line[0] == '\t') {
			if in {
				val = append(append(val, ' '), bytes.TrimSpace(line)...)
			}
			continue
		}
		if in {
			break
		}
		k, v, ok := bytes.Cut(line, []byte(":"))
		if ok && strings.EqualFold(string(bytes.TrimSpace(k)), name) {
			in = true
			val = append(val, bytes.TrimSpace(v)...)
		}
	}
	return string(val)
}

// listCache is a folder's list cache in memory.
//
// TODO: every entry's Fields stay in memory, some 0.5 to 1 KiB a
// message of real mail, so a folder of 100,000 messages holds ~100 MB
// live and the process's resident size grows to several times that
// under Go's GC (contrib/bench/imap-large.sh: 416 MiB vs Dovecot's 49).
// Keeping only the numbers in memory and reading Fields from the file
// by offset when a FETCH asks for them would cut it; compaction then
// has to keep old readers' offsets valid.
type listCache struct {
	mu      sync.Mutex
	loaded  bool
	entries map[string]*ListEntry
	pending []string // keys added since the last Flush
	lines   int      // entry records in the file
	rewrite bool     // the file is damaged or old: compact it
}

// ListEntry returns the list cache entry of m, a message of f, reading
// the message file when the cache lacks it.
func (f *Folder) ListEntry(m Message) (*ListEntry, error) {
	c := &f.lc
	c.mu.Lock()
	if !c.loaded {
		c.load(filepath.Join(f.dir, ListCacheFile))
	}
	e := c.entries[m.Key]
	c.mu.Unlock()
	if e != nil {
		return e, nil
	}
	e, err := f.readListEntry(m)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	if c.entries[m.Key] == nil {
		c.entries[m.Key] = e
		c.pending = append(c.pending, m.Key)
	}
	c.mu.Unlock()
	return e, nil
}

// ListEntries returns the list cache entries of n messages of f, the
// i-th being msg(i), in their order, taking the cache's lock once
// rather than per message (a SORT of a large folder asks for all of
// them); an entry is nil for a message whose file is gone.
func (f *Folder) ListEntries(n int, msg func(i int) Message) []*ListEntry {
	out := make([]*ListEntry, n)
	var missing []int
	c := &f.lc
	c.mu.Lock()
	if !c.loaded {
		c.load(filepath.Join(f.dir, ListCacheFile))
	}
	for i := range n {
		if out[i] = c.entries[msg(i).Key]; out[i] == nil {
			missing = append(missing, i)
		}
	}
	c.mu.Unlock()
	for _, i := range missing {
		out[i], _ = f.ListEntry(msg(i))
	}
	return out
}

// readListEntry builds m's entry from its file, found again if a flag
// change renamed it.
func (f *Folder) readListEntry(m Message) (*ListEntry, error) {
	fh, err := os.Open(m.Path)
	if m.Path == "" || errors.Is(err, fs.ErrNotExist) {
		if fh, m, err = f.Open(m.UID); err != nil {
			return nil, err
		}
	} else if err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}
	defer fh.Close()
	fi, err := fh.Stat()
	if err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}
	fields, complete, err := ListFieldsOf(io.LimitReader(fh, maxListHeader))
	if err != nil {
		return nil, fmt.Errorf("store: %s: %w", m.Key, err)
	}
	return newListEntry(fi.Size(), fi.ModTime(), fields, complete), nil
}

// ListFieldsOf returns the ListFields lines of the header section r
// starts with, as the list cache keeps them, and whether the section
// ended within r.
func ListFieldsOf(r io.Reader) ([]byte, bool, error) {
	br := bufio.NewReader(r)
	var out bytes.Buffer
	keep := false
	for {
		line, err := br.ReadBytes('\n')
		if len(bytes.TrimRight(line, "\r\n")) == 0 && err == nil {
			return bytes.Clone(out.Bytes()), true, nil // the empty line
		}
		if len(line) > 0 && line[0] != ' ' && line[0] != '\t' {
			name, _, _ := bytes.Cut(line, []byte(":"))
			keep = slices.Contains(ListFields,
				strings.ToLower(string(bytes.TrimSpace(name))))
		}
		if keep && len(line) > 0 {
			out.Write(line)
			if line[len(line)-1] != '\n' {
				out.WriteString("\r\n")
			}
		}
		if err == io.EOF {
			// A message that is all header, or cut at the limit.
			return bytes.Clone(out.Bytes()), len(line) == 0, nil
		} else if err != nil {
			return nil, false, err
		}
	}
}

// FlushListCache appends the entries made since the last call to the
// folder's cache file. A failure only costs reading those messages
// again after a restart.
func (f *Folder) FlushListCache() error {
	c := &f.lc
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.pending) == 0 {
		return nil
	}
	path := filepath.Join(f.dir, ListCacheFile)
	fh, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("store: %w", err)
	}
	w := bufio.NewWriter(fh)
	if st, err := fh.Stat(); err == nil && st.Size() == 0 {
		w.WriteString(listCacheHeader + "\n")
	}
	for _, k := range c.pending {
		if e := c.entries[k]; e != nil && writeListLine(w, k, e) {
			c.lines++
		}
	}
	c.pending = c.pending[:0]
	err = errors.Join(w.Flush(), fh.Close())
	if err != nil {
		return fmt.Errorf("store: %w", err)
	}
	return nil
}

// writeListLine appends the record of e to w; a key that could not be
// read back (a TAB or LF in it) is not written.
func writeListLine(w *bufio.Writer, key string, e *ListEntry) bool {
	if strings.ContainsAny(key, "\t\n") {
		return false
	}
	complete, date := "+", "-"
	if !e.Complete {
		complete = "-"
	}
	if !e.Date.IsZero() {
		date = strconv.FormatInt(e.Date.UnixNano(), 10)
	}
	fmt.Fprintf(w, "%s\t%d\t%d\t%s\t%s\t%d\n", key, e.Size,
		e.Arrived.UnixNano(), date, complete, len(e.Fields))
	w.Write(e.Fields)
	w.WriteByte('\n')
	return true
}

// load reads the cache file at path into c; a missing or foreign file
// gives an empty cache. It runs with c.mu held.
func (c *listCache) load(path string) {
	c.loaded = true
	c.entries = map[string]*ListEntry{}
	data, err := os.ReadFile(path)
	if err != nil {
		return
	}
	head, body, _ := bytes.Cut(data, []byte("\n"))
	// A record is a line of numbers and the fields, some 700 bytes of
	// real mail: sized for it, the map rarely grows.
	c.entries = make(map[string]*ListEntry, len(body)/512+16)
	switch string(head) {
	case listCacheHeader:
		c.parse(body)
	case listCacheHeaderV1:
		c.parseV1(body)
		c.rewrite = true
	default:
		// Another format, or damage: start afresh, so that new
		// entries are not appended to a file that will be ignored.
		os.Remove(path)
	}
}

// parse reads version 2 records. Entries' Fields are slices of data.
func (c *listCache) parse(data []byte) {
	block := make([]ListEntry, 0, bytes.Count(data, []byte("\t"))/5+1)
	for len(data) > 0 {
		line, rest, _ := bytes.Cut(data, []byte("\n"))
		key, e, n, ok := parseRecord(line, rest)
		if !ok {
			c.rewrite = true // skip to the next line and try again
			data = rest
			continue
		}
		data = rest[n:]
		c.lines++
		if len(block) == cap(block) {
			block = make([]ListEntry, 0, 64)
		}
		block = append(block, e)
		c.entries[key] = &block[len(block)-1]
	}
}

// parseRecord reads the record whose number line is line and whose
// fields start rest; n is how much of rest the record takes.
func parseRecord(line, rest []byte) (string, ListEntry, int, bool) {
	var f [6][]byte
	for i := range 5 {
		var ok bool
		if f[i], line, ok = bytes.Cut(line, []byte("\t")); !ok {
			return "", ListEntry{}, 0, false
		}
	}
	f[5] = line
	key := string(f[0])
	size, err1 := strconv.ParseInt(string(f[1]), 10, 64)
	arrived, err2 := strconv.ParseInt(string(f[2]), 10, 64)
	length, err3 := strconv.Atoi(string(f[5]))
	var date time.Time
	if d := string(f[3]); d != "-" {
		nanos, err := strconv.ParseInt(d, 10, 64)
		if err != nil {
			return "", ListEntry{}, 0, false
		}
		date = time.Unix(0, nanos).UTC()
	}
	complete := string(f[4])
	if err1 != nil || err2 != nil || err3 != nil || size < 0 ||
		length < 0 || length >= len(rest) || rest[length] != '\n' ||
		(complete != "+" && complete != "-") || !validKey(key) {
		return "", ListEntry{}, 0, false
	}
	return key, ListEntry{Size: size, Arrived: time.Unix(0, arrived),
		Fields: rest[:length:length], Complete: complete == "+",
		Date: date}, length + 1, true
}

// parseV1 reads the lines of a version 1 file.
func (c *listCache) parseV1(data []byte) {
	for _, line := range strings.Split(string(data), "\n") {
		if key, e, ok := parseListLineV1(line); ok {
			c.entries[key] = e
			c.lines++
		}
	}
}

// parseListLineV1 reads one version 1 entry line.
func parseListLineV1(line string) (string, *ListEntry, bool) {
	parts := strings.SplitN(line, "\t", 4)
	if len(parts) != 4 || !validKey(parts[0]) {
		return "", nil, false
	}
	size, err1 := strconv.ParseInt(parts[1], 10, 64)
	nanos, err2 := strconv.ParseInt(parts[2], 10, 64)
	quoted, incomplete := strings.CutPrefix(parts[3], "+")
	fields, err3 := strconv.Unquote(quoted)
	if err1 != nil || err2 != nil || err3 != nil || size < 0 {
		return "", nil, false
	}
	return parts[0], newListEntry(size, time.Unix(0, nanos), []byte(fields),
		!incomplete), true
}

// loadListCacheAsync loads the cache file, and compacts it against
// keep, in a goroutine of its own, so that a cold folder's directory
// read and cache load overlap. It takes the cache's lock before it
// returns and the goroutine releases it when done: every use of the
// cache waits for the load. It runs at the folder's first scan.
func (f *Folder) loadListCacheAsync(keep []Message) {
	f.lc.mu.Lock()
	go func() {
		defer f.lc.mu.Unlock()
		f.compactListCache(keep)
	}()
}

// compactListCache rewrites the cache file with the entries of keep
// only, when dead lines outnumber the live ones; c.mu is held.
func (f *Folder) compactListCache(keep []Message) {
	c := &f.lc
	if !c.loaded {
		c.load(filepath.Join(f.dir, ListCacheFile))
	}
	if c.lines <= 2*len(keep)+100 && !c.rewrite {
		return
	}
	live := map[string]*ListEntry{}
	var b bytes.Buffer
	w := bufio.NewWriter(&b)
	w.WriteString(listCacheHeader + "\n")
	for _, m := range keep {
		if e := c.entries[m.Key]; e != nil {
			live[m.Key] = e
			writeListLine(w, m.Key, e)
		}
	}
	w.Flush()
	c.rewrite = false
	path := filepath.Join(f.dir, ListCacheFile)
	tmp := path + ".tmp"
	if os.WriteFile(tmp, b.Bytes(), 0o600) != nil ||
		os.Rename(tmp, path) != nil {
		os.Remove(tmp)
		c.entries = live
		return
	}
	// Entries point into the new buffer now, so that the old one, dead
	// records and all, can go; readers keep the old ones they hold.
	c.entries, c.lines, c.pending = map[string]*ListEntry{}, 0, nil
	_, body, _ := bytes.Cut(b.Bytes(), []byte("\n"))
	c.parse(body)
}
