package conf

import (
	"errors"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/BurntSushi/toml"
)

// FuzzParse feeds Parse arbitrary files. Parse must not panic, must
// return either a Config or Errors of *Error, and the line scanner must
// find every key the decoder found.
func FuzzParse(f *testing.F) {
	if data, err := os.ReadFile(sample); err == nil {
		f.Add(data)
	}
	for _, tc := range brokenConfigs {
		f.Add([]byte(tc.text))
	}
	for _, tc := range brokenPortals {
		f.Add([]byte(okServer + tc.text))
	}
	f.Add([]byte(lookupConfig))
	f.Add([]byte("a = [{b = '''\n'''}, [\"\"\"x\\\"\"\"\"]]\n[[c.d]]\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := Parse("f.toml", data)
		checkResult(t, c, err)
		checkScan(t, string(data))
	})
}

func checkResult(t *testing.T, c *Config, err error) {
	if (c == nil) == (err == nil) {
		t.Fatalf("config %v and error %v", c, err)
	}
	if err == nil {
		return
	}
	var errs Errors
	if !errors.As(err, &errs) || len(errs) == 0 {
		t.Fatalf("error %T is not Errors: %v", err, err)
	}
	for _, e := range errs {
		var ce *Error
		if !errors.As(e, &ce) || ce.File != "f.toml" || ce.Msg == "" {
			t.Fatalf("bad error %#v", e)
		}
	}
}

var indexRE = regexp.MustCompile(`\[[0-9]+\]`)

// checkScan checks that scanLines finds every key of a valid document,
// compared without array indexes. Keys that need quoting are skipped:
// the decoder quotes them its own way.
func checkScan(t *testing.T, src string) {
	var doc map[string]any
	md, err := toml.Decode(src, &doc)
	lines := scanLines(src) // must not panic on any input
	if err != nil {
		return
	}
	found := map[string]bool{}
	for path := range lines {
		found[indexRE.ReplaceAllString(path, "")] = true
	}
	for _, k := range md.Keys() {
		if !strings.ContainsAny(k.String(), `"'`) && !found[k.String()] {
			t.Fatalf("scanLines misses %s in %q", k, src)
		}
	}
}
