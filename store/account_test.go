package store

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestValidateName(t *testing.T) {
	tests := []struct {
		in, want string
		ok       bool
	}{
		{"INBOX", "INBOX", true},
		{"inBox", "INBOX", true},
		{"Sent", "Sent", true},
		{"Work.2024", "Work.2024", true},
		{"Entwürfe", "Entwürfe", true},
		{"a b&c", "a b&c", true},
		{"", "", false},
		{"..", "", false},
		{".hidden", "", false},
		{"a..b", "", false},
		{"a.", "", false},
		{"../../etc", "", false},
		{"a/b", "", false},
		{`a\b`, "", false},
		{"~", "", false},
		{"~bob", "", false},
		{"a~b", "a~b", true},
		{"cur", "", false},
		{"Work.NEW", "", false},
		{"tmp.x", "", false},
		{"current", "current", true},
		{"a\x00b", "", false},
		{"a\nb", "", false},
		{"a\x7fb", "", false},
		{"a*", "", false},
		{"a%", "", false},
		{"INBOX.child", "", false},
		{"\xff", "", false},
		{strings.Repeat("x", MaxNameLen+1), "", false},
		{strings.Repeat("ü", 100), "", false}, // over 255 once encoded
	}
	for _, tt := range tests {
		got, err := ValidateName(tt.in)
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("ValidateName(%q) = %q, %v", tt.in, got, err)
		}
		if err != nil && !errors.Is(err, ErrBadName) {
			t.Errorf("ValidateName(%q): error %v is not ErrBadName",
				tt.in, err)
		}
	}
}

func TestMUTF7(t *testing.T) {
	tests := []struct{ dec, enc string }{
		{"Sent", "Sent"},
		{"a&b", "a&-b"},
		{"Entwürfe", "Entw&APw-rfe"},
		{"日本語", "&ZeVnLIqe-"},
		{"~peter/mail/台北/日本語", "~peter/mail/&U,BTFw-/&ZeVnLIqe-"},
	}
	for _, tt := range tests {
		if got := EncodeMUTF7(tt.dec); got != tt.enc {
			t.Errorf("encode %q = %q, want %q", tt.dec, got, tt.enc)
		}
		if got, err := DecodeMUTF7(tt.enc); err != nil || got != tt.dec {
			t.Errorf("decode %q = %q, %v", tt.enc, got, err)
		}
	}
	for _, bad := range []string{"&", "&AGE-", "&Jjo", "\x80", "&Jj-"} {
		if _, err := DecodeMUTF7(bad); err == nil {
			t.Errorf("decode %q: no error", bad)
		}
	}
}

func folderNames(t *testing.T, a *Account) string {
	t.Helper()
	l, err := a.Folders()
	if err != nil {
		t.Fatal(err)
	}
	var s []string
	for _, f := range l {
		n := f.Name
		if !f.Exists {
			n += "(none)"
		}
		if f.HasChildren {
			n += "+"
		}
		s = append(s, n)
	}
	return strings.Join(s, " ")
}

func TestFoldersCreateDeleteRename(t *testing.T) {
	_, a := newAccount(t)
	if got := folderNames(t, a); got != "INBOX Drafts Junk Sent Trash" {
		t.Fatalf("default folders: %s", got)
	}
	for _, d := range DefaultFolders {
		p := filepath.Join(a.Root(), "."+d, "maildirfolder")
		if _, err := os.Stat(p); err != nil {
			t.Errorf("%s: %v", d, err)
		}
	}
	const std = "INBOX Drafts Junk "
	create := func(n string) func() error {
		return func() error { return a.Create(n) }
	}
	del := func(n string) func() error {
		return func() error { return a.Delete(n) }
	}
	ren := func(from, to string) func() error {
		return func() error { return a.Rename(from, to) }
	}
	steps := []struct {
		op   func() error
		want string
		err  error
	}{
		{create("Work.2024"), std + "Sent Trash Work+ Work.2024", nil},
		{create("work.2024"),
			std + "Sent Trash Work+ Work.2024 work+ work.2024", nil},
		{create("Work"), "", ErrExists},
		{create("INBOX"), "", ErrExists},
		{create("../x"), "", ErrBadName},
		{del("work"),
			std + "Sent Trash Work+ Work.2024 work(none)+ work.2024", nil},
		{del("work"), "", ErrNotFound},
		{del("INBOX"), "", ErrInbox},
		{ren("Work", "Old.Work"), std + "Old+ Old.Work+ Old.Work.2024 " +
			"Sent Trash work(none)+ work.2024", nil},
		{ren("Sent", "Junk"), "", ErrExists},
		{ren("Old", "Old.X"), "", ErrBadName},
		{ren("Nope", "X"), "", ErrNotFound},
	}
	for i, st := range steps {
		err := st.op()
		if st.err != nil {
			if !errors.Is(err, st.err) {
				t.Errorf("step %d: err %v, want %v", i, err, st.err)
			}
			continue
		}
		if err != nil {
			t.Fatalf("step %d: %v", i, err)
		}
		if got := folderNames(t, a); got != st.want {
			t.Errorf("step %d:\n got %s\nwant %s", i, got, st.want)
		}
	}
	if _, err := os.Stat(filepath.Join(a.Root(), ".Old.Work.2024", "cur")); err != nil {
		t.Errorf("renamed child: %v", err)
	}
}

func TestRenamedFolderIsGoneForHolders(t *testing.T) {
	_, a := newAccount(t)
	f, err := a.Folder("Junk")
	if err != nil {
		t.Fatal(err)
	}
	f.Locked(func(*View) error { return nil })
	if err := a.Rename("Junk", "Spam"); err != nil {
		t.Fatal(err)
	}
	if err := f.Locked(func(*View) error { return nil }); !errors.Is(err, ErrGone) {
		t.Errorf("old handle: %v, want ErrGone", err)
	}
	if _, err := a.Folder("Junk"); !errors.Is(err, ErrNotFound) {
		t.Errorf("old name: %v", err)
	}
}

func TestUnicodeFolderOnDisk(t *testing.T) {
	_, a := newAccount(t)
	if err := a.Create("Entwürfe"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(a.Root(), ".Entw&APw-rfe")); err != nil {
		t.Fatal(err)
	}
	if got := folderNames(t, a); !strings.Contains(got, "Entwürfe") {
		t.Errorf("listing: %s", got)
	}
}

func TestSubscriptions(t *testing.T) {
	_, a := newAccount(t)
	l, _ := a.Subscriptions()
	if got := fmt.Sprint(l); got != "[INBOX Sent Drafts Trash Junk]" {
		t.Errorf("defaults: %s", got)
	}
	a.Create("A.B")
	a.Subscribe("A.B")
	a.Subscribe("Entwürfe")
	a.Unsubscribe("Junk")
	a.Rename("A", "C")
	l, _ = a.Subscriptions()
	want := "[INBOX Sent Drafts Trash C.B Entwürfe]"
	if got := fmt.Sprint(l); got != want {
		t.Errorf("got %s, want %s", got, want)
	}
	data, _ := os.ReadFile(filepath.Join(a.Root(), SubscriptionsFile))
	if !strings.Contains(string(data), "Entw&APw-rfe\n") {
		t.Errorf("file: %q", data)
	}
	if err := a.Subscribe("../x"); !errors.Is(err, ErrBadName) {
		t.Errorf("bad name: %v", err)
	}
}
