package conf

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
)

// BurntSushi/toml v1.6.0 reports the line of a syntax error but keeps
// the lines of keys to itself (MetaData's keyInfo is unexported), and
// it tells apart neither the entries of an array of tables nor the
// elements of an array. So conf scans the file once more, after the
// decoder has accepted it, and notes the line of every key path:
// "server", "server.data_dir", "domain[1].mode", "smtp.listen[0]".
//
// The scanner only skips over values; it relies on the decoder having
// checked the syntax. On any input it stops, and it never panics.

// keyLines maps each key path of a TOML document to the line where
// the key (or the table header, or the array element) starts.
type keyLines map[string]int

// line returns the line of path, or else of its nearest enclosing key
// that has one: a missing key is reported at its table's header. It
// returns 0 when nothing encloses path.
func (kl keyLines) line(path string) int {
	for path != "" {
		if n, ok := kl[path]; ok {
			return n
		}
		path = parentPath(path)
	}
	return 0
}

// parentPath strips the last ".key" or "[n]" from path.
func parentPath(path string) string {
	i := strings.LastIndexAny(path, ".[")
	for i > 0 && inQuotes(path, i) {
		i = strings.LastIndexAny(path[:i], ".[")
	}
	if i < 0 {
		return ""
	}
	return path[:i]
}

// inQuotes reports whether byte i of path is inside a quoted key.
func inQuotes(path string, i int) bool {
	in := false
	for j := 0; j < i; j++ {
		switch {
		case path[j] == '\\' && in:
			j++
		case path[j] == '"':
			in = !in
		}
	}
	return in
}

// joinKey appends key to path, quoting key when it is not bare.
func joinKey(path, key string) string {
	if !isBareKey(key) {
		key = strconv.Quote(key)
	}
	if path == "" {
		return key
	}
	return path + "." + key
}

// indexKey returns path[i].
func indexKey(path string, i int) string {
	return fmt.Sprintf("%s[%d]", path, i)
}

func isBareKey(k string) bool {
	if k == "" {
		return false
	}
	for i := 0; i < len(k); i++ {
		if !isBareChar(k[i]) {
			return false
		}
	}
	return true
}

func isBareChar(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' ||
		c >= '0' && c <= '9' || c == '_' || c == '-'
}

// scanner walks a TOML document that the decoder has accepted.
type scanner struct {
	src    string
	i      int
	nl     []int          // offsets of the newlines
	lines  keyLines       // the result
	arrays map[string]int // array of tables → index of its last entry
	table  string         // path of the current table
}

// scanLines returns the line of every key path in src.
func scanLines(src string) keyLines {
	s := &scanner{src: src, lines: keyLines{}, arrays: map[string]int{}}
	for i := 0; i < len(src); i++ {
		if src[i] == '\n' {
			s.nl = append(s.nl, i)
		}
	}
	for s.skipSpace(true); s.i < len(s.src); s.skipSpace(true) {
		start := s.i
		if s.peek() == '[' {
			s.header()
		} else {
			s.keyValue(s.table)
		}
		s.skipLine()
		if s.i == start {
			s.i++
		}
	}
	return s.lines
}

// lineAt returns the line of byte offset i.
func (s *scanner) lineAt(i int) int {
	return sort.SearchInts(s.nl, i) + 1
}

// note records that path starts at offset i, unless already known.
func (s *scanner) note(path string, i int) {
	if _, ok := s.lines[path]; !ok && path != "" {
		s.lines[path] = s.lineAt(i)
	}
}

func (s *scanner) peek() byte {
	if s.i < len(s.src) {
		return s.src[s.i]
	}
	return 0
}

func (s *scanner) has(prefix string) bool {
	return strings.HasPrefix(s.src[s.i:], prefix)
}

// skipSpace skips blanks and, if lines is set, newlines and comments.
func (s *scanner) skipSpace(lines bool) {
	for s.i < len(s.src) {
		switch c := s.src[s.i]; {
		case c == ' ' || c == '\t' || c == '\r':
			s.i++
		case lines && c == '\n':
			s.i++
		case lines && c == '#':
			s.skipLine()
		default:
			return
		}
	}
}

// skipLine moves to the newline that ends the current line.
func (s *scanner) skipLine() {
	if n := strings.IndexByte(s.src[s.i:], '\n'); n >= 0 {
		s.i += n
	} else {
		s.i = len(s.src)
	}
}

// header reads [table] or [[array]] and makes it the current table.
func (s *scanner) header() {
	start := s.i
	array := s.has("[[")
	s.i++
	if array {
		s.i++
	}
	keys := s.keys()
	if len(keys) == 0 {
		return
	}
	path := s.resolve(keys[:len(keys)-1])
	path = joinKey(path, keys[len(keys)-1])
	if array {
		s.note(path, start)
		n, ok := s.arrays[path]
		if ok {
			n++
		}
		s.arrays[path] = n
		path = indexKey(path, n)
	} else if n, ok := s.arrays[path]; ok {
		path = indexKey(path, n)
	}
	s.table = path
	s.note(path, start)
}

// resolve joins keys into a path, where a key that names an array of
// tables means its last entry, as in a header [domain.sub].
func (s *scanner) resolve(keys []string) string {
	path := ""
	for _, k := range keys {
		path = joinKey(path, k)
		if n, ok := s.arrays[path]; ok {
			path = indexKey(path, n)
		}
	}
	return path
}

// keyValue reads one "key = value" of the table at path.
func (s *scanner) keyValue(path string) {
	start := s.i
	keys := s.keys()
	for _, k := range keys {
		path = joinKey(path, k)
	}
	s.skipSpace(false)
	if s.peek() != '=' || len(keys) == 0 {
		return
	}
	s.i++
	s.note(path, start)
	s.skipSpace(false)
	s.value(path)
}

// keys reads a dotted key, such as a."b c".d, and returns its parts.
func (s *scanner) keys() []string {
	var keys []string
	for {
		s.skipSpace(false)
		k, ok := s.key()
		if !ok {
			return keys
		}
		keys = append(keys, k)
		s.skipSpace(false)
		if s.peek() != '.' {
			return keys
		}
		s.i++
	}
}

// key reads one bare or quoted key.
func (s *scanner) key() (string, bool) {
	start := s.i
	switch s.peek() {
	case '"', '\'':
		s.skipString()
		raw := s.src[start:s.i]
		if raw[0] == '\'' {
			return strings.Trim(raw, "'"), true
		}
		if k, err := strconv.Unquote(raw); err == nil {
			return k, true
		}
		return strings.Trim(raw, `"`), true
	}
	for s.i < len(s.src) && isBareChar(s.src[s.i]) {
		s.i++
	}
	return s.src[start:s.i], s.i > start
}

// value skips one value, noting the paths of array elements and of
// the keys of inline tables.
func (s *scanner) value(path string) {
	switch s.peek() {
	case '"', '\'':
		s.skipString()
	case '[':
		s.array(path)
	case '{':
		s.inline(path)
	default:
		n := strings.IndexAny(s.src[s.i:], ",]}\n#")
		if n < 0 {
			n = len(s.src) - s.i
		}
		s.i += n
	}
}

// array skips [v, v, …], noting path[n] for each element.
func (s *scanner) array(path string) {
	s.i++
	for n := 0; ; {
		s.skipSpace(true)
		start := s.i
		switch s.peek() {
		case 0, ']':
			s.i = min(s.i+1, len(s.src))
			return
		case ',':
			s.i++
			continue
		}
		elem := indexKey(path, n)
		s.note(elem, start)
		s.value(elem)
		n++
		if s.i == start {
			s.i++
		}
	}
}

// inline skips {k = v, …}, noting path.k for each key.
func (s *scanner) inline(path string) {
	s.i++
	for {
		s.skipSpace(true)
		start := s.i
		switch s.peek() {
		case 0, '}':
			s.i = min(s.i+1, len(s.src))
			return
		case ',':
			s.i++
			continue
		}
		s.keyValue(path)
		if s.i == start {
			s.i++
		}
	}
}

// skipString skips a basic, literal or multi-line string.
func (s *scanner) skipString() {
	q := s.src[s.i : s.i+1]
	if s.has(q + q + q) {
		s.i += 3
		s.skipUntil(q+q+q, q == `"`)
		for k := 0; k < 2 && s.peek() == q[0]; k++ {
			s.i++ // quotes just before the closing ones
		}
		return
	}
	s.i++
	s.skipUntil(q, q == `"`)
}

// skipUntil moves past the next end that escape does not protect.
func (s *scanner) skipUntil(end string, escapes bool) {
	for s.i < len(s.src) {
		switch {
		case escapes && s.src[s.i] == '\\':
			s.i += 2
		case s.has(end):
			s.i += len(end)
			return
		default:
			s.i++
		}
	}
	s.i = min(s.i, len(s.src))
}
