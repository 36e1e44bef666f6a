package conf

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
)

// Error is one problem found in a configuration file.
type Error struct {
	// File is the name the file was loaded under.
	File string
	// Line is the line the problem is on, 1 for the first; 0 when it
	// cannot be known (a key missing from a table that is missing too).
	Line int
	// Key is the key's path, such as domain[1].mode, with arrays
	// counted from 0; empty for a syntax error.
	Key string
	// Msg says what is wrong.
	Msg string
}

// Error formats e as FILE:LINE: KEY: MSG, leaving out the parts that
// are unknown.
func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	if e.Line > 0 {
		fmt.Fprintf(&b, ":%d", e.Line)
	}
	if e.Key != "" {
		b.WriteString(": " + e.Key)
	}
	b.WriteString(": " + e.Msg)
	return b.String()
}

// Warning formats e, a warning, as FILE:LINE: KEY: warning: MSG.
func (e *Error) Warning() string {
	w := *e
	w.Msg = "warning: " + e.Msg
	return w.Error()
}

// Errors is every problem found in one file, in file order. Its
// elements are *Error.
type Errors []error

// Error returns the errors one per line.
func (es Errors) Error() string {
	lines := make([]string, len(es))
	for i, e := range es {
		lines[i] = e.Error()
	}
	return strings.Join(lines, "\n")
}

// Unwrap returns the errors, for errors.Is and errors.As.
func (es Errors) Unwrap() []error { return es }

// sortErrors puts errs in file order; those without a line go last.
// The sort is stable, so errors of one line keep the order they were
// found in.
func sortErrors(errs Errors) {
	line := func(e error) int {
		if ce, ok := e.(*Error); ok && ce.Line > 0 {
			return ce.Line
		}
		return int(^uint(0) >> 1)
	}
	slices.SortStableFunc(errs, func(a, b error) int {
		return cmp.Compare(line(a), line(b))
	})
}
