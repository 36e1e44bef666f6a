package conf

import (
	"reflect"
	"testing"

	"github.com/BurntSushi/toml"
)

func TestScanLines(t *testing.T) {
	src := `# a comment with [brackets] and key = "value"
top = 1

[server] # trailing comment
hostname = "a # not a comment"
"quoted.key" = 'x'
dotted . key = 2
multi = """
fake = "not a key"
[not.a.table]
"""
lit = '''
fake2 = 1 '''
arr = [
  "a",   # element 0
  [1, 2],
  { x = 1 },
]

[[domain]]
name = "a"
inline = { k = "v", n = { m = 1 } }

[[domain]]
name = "b"
[domain.sub]
s = 1
[[domain.list]]
l = 1
[[domain.list]]
l = 2
date = 1979-05-27 07:32:00Z
esc = "a\"b"
after = 1
`
	want := keyLines{
		"top":                     2,
		"server":                  4,
		"server.hostname":         5,
		`server."quoted.key"`:     6,
		"server.dotted.key":       7,
		"server.multi":            8,
		"server.lit":              12,
		"server.arr":              14,
		"server.arr[0]":           15,
		"server.arr[1]":           16,
		"server.arr[1][0]":        16,
		"server.arr[1][1]":        16,
		"server.arr[2]":           17,
		"server.arr[2].x":         17,
		"domain":                  20,
		"domain[0]":               20,
		"domain[0].name":          21,
		"domain[0].inline":        22,
		"domain[0].inline.k":      22,
		"domain[0].inline.n":      22,
		"domain[0].inline.n.m":    22,
		"domain[1]":               24,
		"domain[1].name":          25,
		"domain[1].sub":           26,
		"domain[1].sub.s":         27,
		"domain[1].list":          28,
		"domain[1].list[0]":       28,
		"domain[1].list[0].l":     29,
		"domain[1].list[1]":       30,
		"domain[1].list[1].l":     31,
		"domain[1].list[1].date":  32,
		"domain[1].list[1].esc":   33,
		"domain[1].list[1].after": 34,
	}
	var doc map[string]any
	if _, err := toml.Decode(src, &doc); err != nil {
		t.Fatalf("the test document is not valid: %v", err)
	}
	got := scanLines(src)
	if !reflect.DeepEqual(got, want) {
		for k, v := range got {
			if want[k] != v {
				t.Errorf("%s: line %d, want %d", k, v, want[k])
			}
		}
		for k, v := range want {
			if _, ok := got[k]; !ok {
				t.Errorf("%s: missing, want line %d", k, v)
			}
		}
	}
}

func TestKeyLinesLine(t *testing.T) {
	kl := keyLines{"domain[1]": 7, "domain[1].mode": 9,
		`server."a.b"`: 3, "server": 1}
	for _, tc := range []struct {
		path string
		want int
	}{
		{"domain[1].mode", 9},
		{"domain[1].relay", 7},
		{"domain[2].name", 0},
		{`server."a.b".c`, 3},
		{`server."x.y[1]"`, 1},
		{"tls.cert", 0},
		{"", 0},
	} {
		if got := kl.line(tc.path); got != tc.want {
			t.Errorf("line(%q) = %d, want %d", tc.path, got, tc.want)
		}
	}
}

func TestJoinKey(t *testing.T) {
	for _, tc := range [][3]string{
		{"", "server", "server"},
		{"server", "data_dir", "server.data_dir"},
		{"domain[0]", "a b", `domain[0]."a b"`},
		{"x", "", `x.""`},
		{"x", `q"`, `x."q\""`},
	} {
		if got := joinKey(tc[0], tc[1]); got != tc[2] {
			t.Errorf("joinKey(%q, %q) = %s, want %s", tc[0], tc[1],
				got, tc[2])
		}
	}
}
