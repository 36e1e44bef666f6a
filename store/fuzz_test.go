package store

import (
	"bytes"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzValidateName checks that no accepted name can leave the Maildir:
// its directory is one path component starting with a dot, and it
// lists back under the same name.
func FuzzValidateName(f *testing.F) {
	for _, s := range []string{"INBOX", "Sent", "A.B", "..", "a/b",
		"Entwürfe", "&-", "a\x00", ".x", "x.", "INBOX.a", "日本語"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		canon, err := ValidateName(name)
		if err != nil || canon == Inbox {
			return
		}
		dir := dirName(canon)
		if filepath.Base(dir) != dir || dir == ".." || len(dir) > 255 ||
			strings.ContainsAny(dir, "/\x00") || dir[0] != '.' {
			t.Fatalf("%q → unsafe dir %q", name, dir)
		}
		back, ok := nameFromDir(dir)
		if !ok || back != canon {
			t.Fatalf("%q → %q → %q, %v", name, dir, back, ok)
		}
	})
}

// FuzzParseUIDList checks that whatever the parser accepts is
// consistent and survives a format/parse round trip unchanged.
func FuzzParseUIDList(f *testing.F) {
	f.Add([]byte("stratamail-uidlist 1\nuidvalidity 5\nuidnext 9\n" +
		"1 a\n3 b,S=4\n8 c d\n"))
	f.Add([]byte("stratamail-uidlist 1\nuidvalidity 1\nuidnext 1\n"))
	f.Add([]byte("stratamail-uidlist 1\nuidvalidity 1\nuidnext 3\n2 a\n2 b\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		l, err := parseUIDList(data)
		if err != nil {
			return
		}
		var last uint32
		for _, e := range l.Entries {
			if e.UID <= last || e.UID >= l.Next || !validKey(e.Key) {
				t.Fatalf("inconsistent entry %+v (next %d)", e, l.Next)
			}
			last = e.UID
		}
		out := l.format()
		l2, err := parseUIDList(out)
		if err != nil {
			t.Fatalf("re-parse: %v\n%s", err, out)
		}
		if !bytes.Equal(l2.format(), out) {
			t.Fatalf("round trip changed:\n%s\n%s", out, l2.format())
		}
	})
}

// FuzzMUTF7 checks that decoding accepts only what encoding produces.
func FuzzMUTF7(f *testing.F) {
	for _, s := range []string{"Entw&APw-rfe", "&-", "&ZeVnLIqe-", "a"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, enc string) {
		dec, err := DecodeMUTF7(enc)
		if err != nil {
			return
		}
		if again := EncodeMUTF7(dec); again != enc {
			t.Fatalf("%q → %q → %q", enc, dec, again)
		}
	})
}
