package imapd

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestMbsync pulls alice's mailbox with isync's mbsync into a local
// Maildir, flags a message there and pushes the flag back.
func TestMbsync(t *testing.T) {
	bin, err := exec.LookPath("mbsync")
	if err != nil {
		t.Skip("mbsync not installed")
	}
	h := start(t, t.TempDir())
	h.deliver(testMsg("mbsync one", "x"))
	h.deliver(testMsg("mbsync two", "y"))
	local := t.TempDir()
	os.MkdirAll(filepath.Join(local, "mail"), 0o700)
	host, port, _ := strings.Cut(h.addr, ":")
	rc := filepath.Join(local, "mbsyncrc")
	cfg := fmt.Sprintf(`IMAPAccount test
Host %s
Port %s
User %s
Pass "%s"
SSLType None
AuthMechs PLAIN

IMAPStore remote
Account test

MaildirStore local
Path %s/mail/
Inbox %s/mail/INBOX
SubFolders Verbatim

Channel test
Far :remote:
Near :local:
Patterns *
Create Near
Sync All
SyncState *
`, host, port, alice, alicePW, local, local)
	os.WriteFile(rc, []byte(cfg), 0o600)
	run := func() {
		out, err := exec.Command(bin, "-c", rc, "-a").CombinedOutput()
		if err != nil {
			t.Fatalf("mbsync: %v\n%s", err, out)
		}
	}
	run()
	got, _ := filepath.Glob(filepath.Join(local, "mail", "INBOX", "*", "*"))
	if len(got) != 2 {
		t.Fatalf("mbsync fetched %v", got)
	}
	for _, d := range []string{"Sent", "Drafts", "Trash", "Junk"} {
		if _, err := os.Stat(filepath.Join(local, "mail", d)); err != nil {
			t.Errorf("folder %s not synced: %v", d, err)
		}
	}
	// Flag the first message locally, push it, check the server file.
	old := got[0]
	if !strings.HasSuffix(old, ":2,") {
		t.Fatalf("unexpected local name %s", old)
	}
	if err := os.Rename(old, old+"F"); err != nil {
		t.Fatal(err)
	}
	run()
	files := append(maildirFiles(t, h, "INBOX", "cur"),
		maildirFiles(t, h, "INBOX", "new")...)
	var nF int
	for _, f := range files {
		if strings.HasSuffix(f, ":2,F") {
			nF++
		}
	}
	if nF != 1 {
		t.Errorf("server files after push: %v", files)
	}
}
