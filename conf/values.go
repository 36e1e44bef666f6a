package conf

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
)

// The decoder gives a document of map[string]any. The helpers here
// take one value out of a table, check its TOML type and report a
// wrong one. They return ok false when the key is absent or its value
// is of the wrong type; only the second is an error.

// table returns the [name] table of doc, nil when it is absent.
func (p *parser) table(doc map[string]any, name string) map[string]any {
	switch v := doc[name].(type) {
	case nil:
		return nil
	case map[string]any:
		p.unknownKeys(name, v, schema[name])
		return v
	case []map[string]any:
		p.errorf(name, "must be one table: write [%s], not [[%s]]",
			name, name)
	default:
		p.errorf(name, "must be a table, not %s: write [%s]",
			typeName(v), name)
	}
	return nil
}

// array returns the entries of the [[name]] array of tables of doc.
func (p *parser) array(doc map[string]any, name string) []map[string]any {
	var ts []map[string]any
	switch v := doc[name].(type) {
	case nil:
	case []map[string]any:
		ts = v
	case []any: // name = [{…}, {…}]
		for i, e := range v {
			t, ok := e.(map[string]any)
			if !ok {
				p.errorf(indexKey(name, i), "must be a table, not %s",
					typeName(e))
			}
			ts = append(ts, t) // nil for a bad entry
		}
	default:
		p.errorf(name, "must be an array of tables: write [[%s]]", name)
	}
	for i, t := range ts {
		p.unknownKeys(indexKey(name, i), t, schema[name])
	}
	return ts
}

// unknownKeys reports each key of t that is not in known, with a hint
// when the key looks like a known one.
func (p *parser) unknownKeys(path string, t map[string]any, known []string) {
	keys := make([]string, 0, len(t))
	for k := range t {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		if !slices.Contains(known, k) {
			p.errorf(joinKey(path, k), "unknown key%s",
				hint(path, k, known))
		}
	}
}

// hint suggests what an unknown key k in the table at path was meant
// to be: a known key spelt alike, or a key of another table.
func hint(path, k string, known []string) string {
	for _, c := range known {
		if strings.EqualFold(c, k) || distance(c, k) <= 2 {
			return fmt.Sprintf(" (did you mean %s?)", c)
		}
	}
	if path != "" {
		return ""
	}
	var homes []string
	for _, table := range tableNames() {
		if slices.Contains(schema[table], k) {
			homes = append(homes, header(table))
		}
	}
	if len(homes) == 0 {
		return ""
	}
	slices.Sort(homes)
	return fmt.Sprintf(" (%s belongs under %s)", k,
		strings.Join(homes, " or "))
}

// header returns how the table name is opened in the file.
func header(name string) string {
	if name == "domain" || name == "user" || name == "operator" {
		return "[[" + name + "]]"
	}
	return "[" + name + "]"
}

// distance is the Levenshtein distance between a and b, in bytes.
func distance(a, b string) int {
	prev := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur := make([]int, len(b)+1)
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev = cur
	}
	return prev[len(b)]
}

// typeName names the TOML type of a decoded value, for messages.
func typeName(v any) string {
	switch v.(type) {
	case string:
		return "a string"
	case int64:
		return "an integer"
	case float64:
		return "a float"
	case bool:
		return "a boolean"
	case time.Time:
		return "a date"
	case []any, []map[string]any:
		return "an array"
	case map[string]any:
		return "a table"
	}
	return fmt.Sprintf("a %T", v)
}

// getString returns the string at key of t.
func (p *parser) getString(t map[string]any, path, key string) (string, bool) {
	v, ok := t[key]
	if !ok {
		return "", false
	}
	return p.asString(joinKey(path, key), v)
}

// asString checks that v, the value at path, is a string without
// control characters.
func (p *parser) asString(path string, v any) (string, bool) {
	s, ok := v.(string)
	if !ok {
		p.errorf(path, "must be a string, not %s", typeName(v))
		return "", false
	}
	if i := strings.IndexFunc(s, unicode.IsControl); i >= 0 {
		p.errorf(path, "%q contains a control character", s)
		return "", false
	}
	return s, true
}

// needString is getString for a key that must be there and not be
// empty; why says what the key is for.
func (p *parser) needString(t map[string]any, path, key,
	why string) (string, bool) {
	full := joinKey(path, key)
	if _, ok := t[key]; !ok {
		p.errorf(full, "missing; %s", why)
		return "", false
	}
	s, ok := p.getString(t, path, key)
	if ok && s == "" {
		p.errorf(full, "is empty; %s", why)
		return "", false
	}
	return s, ok
}

// getStrings returns the array of strings at key of t.
func (p *parser) getStrings(t map[string]any,
	path, key string) ([]string, bool) {
	v, ok := t[key]
	if !ok {
		return nil, false
	}
	path = joinKey(path, key)
	arr, ok := v.([]any)
	if !ok {
		p.errorf(path, "must be an array of strings, not %s%s",
			typeName(v), arrayHint(v))
		return nil, false
	}
	out := make([]string, 0, len(arr))
	for i, e := range arr {
		s, ok := p.asString(indexKey(path, i), e)
		if !ok {
			return nil, false
		}
		out = append(out, s)
	}
	return out, true
}

// arrayHint shows how to write a lone string v as an array.
func arrayHint(v any) string {
	if s, ok := v.(string); ok {
		return fmt.Sprintf(" (write [%q])", s)
	}
	return ""
}

// getBool returns the boolean at key of t.
func (p *parser) getBool(t map[string]any, path, key string) (bool, bool) {
	v, ok := t[key]
	if !ok {
		return false, false
	}
	b, ok := v.(bool)
	if !ok {
		p.errorf(joinKey(path, key), "must be true or false, not %s",
			typeName(v))
	}
	return b, ok
}

// getInt returns the integer at key of t.
func (p *parser) getInt(t map[string]any, path, key string) (int64, bool) {
	v, ok := t[key]
	if !ok {
		return 0, false
	}
	n, ok := v.(int64)
	if !ok {
		p.errorf(joinKey(path, key), "must be an integer, not %s",
			typeName(v))
	}
	return n, ok
}

// duration returns the duration at key of t, or def when it is absent.
// The TOML decoder would take a bare integer as nanoseconds, which no
// one means, so a duration must be a string.
func (p *parser) duration(t map[string]any, path, key string,
	def time.Duration) time.Duration {
	v, ok := t[key]
	if !ok {
		return def
	}
	path = joinKey(path, key)
	switch v := v.(type) {
	case string:
		d, err := parseDuration(v)
		switch {
		case err != nil:
			p.errorf(path, "%q is not a duration like \"5m\", "+
				"\"30s\", \"1h30m\" or \"5d\"", v)
		case d <= 0:
			p.errorf(path, "%q must be more than 0", v)
		}
		return d
	case int64, float64:
		p.errorf(path, "%v is a bare number; use a string like \"5m\"", v)
	default:
		p.errorf(path, "must be a duration string like \"5m\", not %s",
			typeName(v))
	}
	return def
}

// size returns the size at key of t, in bytes, or def when it is
// absent: a string with a unit, such as "25MiB", or an integer.
func (p *parser) size(t map[string]any, path, key string, def int64) int64 {
	v, ok := t[key]
	if !ok {
		return def
	}
	path = joinKey(path, key)
	switch v := v.(type) {
	case int64:
		if v <= 0 {
			p.errorf(path, "%d must be more than 0", v)
		}
		return v
	case string:
		n, err := parseSize(v)
		if err != nil {
			p.errorf(path, "%s", err)
		}
		return n
	}
	p.errorf(path, "must be a size like \"25MiB\", not %s", typeName(v))
	return def
}

// parseDuration is time.ParseDuration with days: a leading "Nd", as in
// "5d" or "1d12h", counts N times 24 hours.
func parseDuration(s string) (time.Duration, error) {
	days, rest, ok := strings.Cut(s, "d")
	if !ok {
		return time.ParseDuration(s)
	}
	n, err := strconv.ParseUint(days, 10, 16)
	if err != nil || days == "" {
		return 0, fmt.Errorf("bad day count in %q", s)
	}
	d := time.Duration(n) * 24 * time.Hour
	if rest == "" {
		return d, nil
	}
	r, err := time.ParseDuration(rest)
	if err != nil || strings.HasPrefix(rest, "-") {
		return 0, fmt.Errorf("bad duration %q", s)
	}
	return d + r, nil
}
