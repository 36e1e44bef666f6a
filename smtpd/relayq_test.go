package smtpd

import (
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/stratamail/continuity/relayq"
)

// relayq's queue is what production passes as Options.Queue.
var _ Queue = (*relayq.Queue)(nil)

// TestRealQueue runs the intake against relayq (opened, not run, so
// nothing is delivered): one entry per domain, sharing the inode of the
// Maildir copies.
func TestRealQueue(t *testing.T) {
	var q *relayq.Queue
	qdir := ""
	e := newEnv(t, func(s *Server) {
		var err error
		qdir = filepath.Join(s.opts.Store.DataDir(), "relayq")
		q, err = relayq.Open(qdir, relayq.Options{
			Config: s.opts.Config, Logger: s.log})
		if err != nil {
			t.Fatal(err)
		}
		s.opts.Queue = q
	})
	to := []string{"alice@example.test", "bob@example.test",
		`"x y"@relay.test`}
	if err := e.send("", to, testMessage("real queue")); err != nil {
		t.Fatal(err)
	}
	want := map[string][]string{
		"example.test": {"alice@example.test", "bob@example.test"},
		"relay.test":   {`"x y"@relay.test`},
	}
	for dom, rcpts := range want {
		ents, err := relayq.ReadDir(qdir, dom)
		if err != nil {
			t.Fatal(err)
		}
		if len(ents) != 1 || !slices.Equal(ents[0].Recipients, rcpts) ||
			ents[0].Sender != "" {
			t.Fatalf("%s: entries %+v, want rcpts %q", dom, ents, rcpts)
		}
	}
	alice, _ := e.readMessage("alice@example.test")
	fa, _ := os.Stat(alice)
	links := 0
	filepath.WalkDir(qdir, func(p string, d os.DirEntry, err error) error {
		if fi, err := os.Stat(p); err == nil && os.SameFile(fa, fi) {
			links++
		}
		return nil
	})
	if links != 2 {
		t.Errorf("%d queue files share alice's inode, want 2", links)
	}
	e.checkSpoolEmpty()
}
