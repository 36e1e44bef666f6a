package store

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"
)

// TmpMaxAge is how long a file may sit in a Maildir's tmp/ before it
// is taken for the leftover of a crashed writer: 36 hours, the age the
// Maildir convention gives.
const TmpMaxAge = 36 * time.Hour

// sweepSpool removes every file in the intake spool. It runs at Open,
// before any intake: what is there was left by an earlier run that
// stopped mid-transaction. Those messages were never answered 250, or
// were linked into mailboxes and the queue before the answer, so no
// accepted message lives only there.
func sweepSpool(dir string) (int, error) {
	return sweep(dir, func(os.FileInfo) bool { return true })
}

// sweepTmp removes the files in a Maildir folder's tmp/ older than
// TmpMaxAge at now.
func sweepTmp(folderDir string, now time.Time) (int, error) {
	return sweep(filepath.Join(folderDir, "tmp"), func(fi os.FileInfo) bool {
		return now.Sub(fi.ModTime()) > TmpMaxAge
	})
}

// sweep removes the regular files of dir that old approves of and
// returns how many went. A missing dir has nothing to sweep.
func sweep(dir string, old func(os.FileInfo) bool) (int, error) {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return 0, nil
	} else if err != nil {
		return 0, fmt.Errorf("store: sweep: %w", err)
	}
	n := 0
	var errs []error
	for _, e := range entries {
		if !e.Type().IsRegular() {
			continue
		}
		fi, err := e.Info()
		if err != nil || !old(fi) {
			continue // gone meanwhile, or young
		}
		err = os.Remove(filepath.Join(dir, e.Name()))
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, err)
			continue
		}
		n++
	}
	if err := errors.Join(errs...); err != nil {
		return n, fmt.Errorf("store: sweep: %w", err)
	}
	return n, nil
}
