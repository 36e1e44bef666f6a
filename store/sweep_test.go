package store

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestSweepLeftovers(t *testing.T) {
	data := t.TempDir()
	spool := filepath.Join(data, "tmp")
	write := func(path string, age time.Duration) {
		t.Helper()
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte("x"), 0o600); err != nil {
			t.Fatal(err)
		}
		then := time.Now().Add(-age)
		if err := os.Chtimes(path, then, then); err != nil {
			t.Fatal(err)
		}
	}
	// An earlier run's spool leftovers, whatever their age.
	write(filepath.Join(spool, "young"), time.Minute)
	write(filepath.Join(spool, "old"), 48*time.Hour)

	s, err := Open(data)
	if err != nil {
		t.Fatal(err)
	}
	if s.Swept != 2 {
		t.Errorf("Open swept %d spool files, want 2", s.Swept)
	}
	a, err := s.Account("u@example.test")
	if err != nil {
		t.Fatal(err)
	}
	tmp := filepath.Join(a.Root(), "tmp")
	files := []struct {
		path string
		age  time.Duration
		kept bool
	}{
		{filepath.Join(tmp, "fresh"), time.Hour, true},
		{filepath.Join(tmp, "just-young"), TmpMaxAge - time.Hour, true},
		{filepath.Join(tmp, "stale"), TmpMaxAge + time.Hour, false},
		{filepath.Join(a.Root(), "cur", "1.M1P1.h:2,"), 90 * 24 * time.Hour,
			true},
	}
	for _, f := range files {
		write(f.path, f.age)
	}
	if _, err := a.Folder("INBOX"); err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		_, err := os.Stat(f.path)
		if kept := err == nil; kept != f.kept {
			t.Errorf("%s: kept %v, want %v", filepath.Base(f.path),
				kept, f.kept)
		}
	}
	if left, _ := os.ReadDir(spool); len(left) != 0 {
		t.Errorf("spool still holds %d files", len(left))
	}
}
