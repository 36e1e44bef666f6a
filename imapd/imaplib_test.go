package imapd

import (
	"os/exec"
	"strings"
	"testing"
)

// imaplibScript drives the server with Python's imaplib: log in, list,
// select, read, flag, search, copy, expunge. It prints "ok" at the end
// and fails loudly on any unexpected reply.
const imaplibScript = `
import imaplib, sys
host, port, user, pw = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
m = imaplib.IMAP4(host, port)
def ok(r):
    typ, data = r
    assert typ == "OK", (typ, data)
    return data
ok(m.login(user, pw))
names = b" ".join(ok(m.list()))
for n in (b"INBOX", b"Sent", b"Drafts", b"Trash", b"Junk", b"\\Sent"):
    assert n in names, names
assert ok(m.select("INBOX"))[0] == b"1"
data = ok(m.fetch("1", "(RFC822.SIZE BODY.PEEK[])"))
assert b"imaplib hello" in data[0][1], data
assert b"\\Seen" not in data[0][0], data
ok(m.store("1", "+FLAGS", "(\\Flagged)"))
flags = ok(m.fetch("1", "(FLAGS)"))[0]
assert b"\\Flagged" in flags, flags
assert ok(m.search(None, "FLAGGED"))[0] == b"1"
assert ok(m.uid("SEARCH", None, "SUBJECT", "imaplib"))[0] == b"1"
ok(m.copy("1", "Trash"))
ok(m.store("1", "+FLAGS", "(\\Deleted)"))
ok(m.expunge())
assert ok(m.select("Trash"))[0] == b"1"
m.logout()
print("ok")
`

func TestImaplib(t *testing.T) {
	py, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("python3 not installed")
	}
	h := start(t, t.TempDir())
	h.deliver(testMsg("imaplib hello", "text"))
	host, port, _ := strings.Cut(h.addr, ":")
	out, err := exec.Command(py, "-c", imaplibScript, host, port,
		alice, alicePW).CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != "ok" {
		t.Fatalf("imaplib: %v\n%s", err, out)
	}
}
