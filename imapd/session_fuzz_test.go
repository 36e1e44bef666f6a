package imapd

import (
	"bytes"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// FuzzSession feeds whole IMAP sessions, bytes in, to a running server
// logged in as alice (the login is sent first). Whatever arrives, the
// server must not panic, must answer, and must never touch anything
// outside alice's Maildir.
func FuzzSession(f *testing.F) {
	for _, s := range []string{
		"a SELECT INBOX\r\nb FETCH 1:* (FLAGS ENVELOPE BODYSTRUCTURE)\r\n" +
			"c UID FETCH 1 BODY.PEEK[HEADER.FIELDS (DATE FROM)]\r\n",
		"a CREATE \"Gr&APw-\"\r\nb RENAME \"Gr&APw-\" X.Y\r\nc LIST \"\" *\r\n",
		"a SELECT INBOX\r\nb STORE 1 +FLAGS (\\Deleted)\r\nc EXPUNGE\r\n",
		"a SELECT INBOX\r\nb SEARCH CHARSET UTF-8 OR SUBJECT x BODY y\r\n",
		"a APPEND Drafts (\\Draft) {5}\r\nhello\r\nb STATUS Drafts (MESSAGES)\r\n",
		"a SELECT INBOX\r\nb COPY 1 Trash\r\nc MOVE 1 Junk\r\nd UNSELECT\r\n",
		"a SELECT \"../x\"\r\nb CREATE \"~y\"\r\nc DELETE INBOX\r\n",
		"a IDLE\r\nDONE\r\nb NAMESPACE\r\nc LSUB \"\" *\r\n",
		"a SELECT INBOX\r\nb FETCH 1 (BODY[1.2.3] BINARY[1] RFC822.SIZE)\r\n",
	} {
		f.Add([]byte(s))
	}
	h := start(f, f.TempDir())
	h.deliver(testMsg("first", "body one"))
	h.deliver("From: x@y\r\nContent-Type: multipart/mixed; boundary=b\r\n" +
		"\r\n--b\r\nContent-Type: text/plain\r\n\r\npart\r\n--b--\r\n")
	outside := filepath.Join(h.dir, "canary")
	if err := os.WriteFile(outside, []byte("x"), 0o600); err != nil {
		f.Fatal(err)
	}
	before := tree(f, h.dir)
	f.Fuzz(func(t *testing.T, in []byte) {
		out := runIMAP(t, h.addr, in)
		if !bytes.HasPrefix(out, []byte("* OK")) {
			t.Fatalf("no greeting: %q", out)
		}
		logs := h.log.String()
		if strings.Contains(logs, "panic") {
			t.Fatalf("a panic in the log:\n%s", logs)
		}
		// Only alice's own Maildir may change.
		for _, l := range strings.Split(tree(t, h.dir), "\n") {
			if !strings.Contains(before, l+"\n") &&
				!strings.HasPrefix(l, filepath.Join("mail",
					"example.com", "alice")) {
				t.Fatalf("%s appeared outside alice's Maildir", l)
			}
		}
		if _, err := os.Stat(outside); err != nil {
			t.Fatalf("the canary is gone: %v", err)
		}
	})
}

// runIMAP logs in as alice, sends in, then LOGOUT, and returns what the
// server sent until it closed the connection or two seconds passed.
func runIMAP(t *testing.T, addr string, in []byte) []byte {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(2 * time.Second))
	go func() {
		c.Write([]byte("l LOGIN " + alice + " \"" + alicePW + "\"\r\n"))
		c.Write(in)
		c.Write([]byte("\r\nz LOGOUT\r\n"))
	}()
	out, _ := io.ReadAll(c)
	return out
}
