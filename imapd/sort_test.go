package imapd

import (
	"crypto/tls"
	"encoding/base64"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2/imapclient"

	"github.com/stratamail/continuity/store"
)

// sortMsg returns a message with the given header fields and size.
func sortMsg(from, to, subject, date string, pad int) string {
	h := "From: " + from + "\r\nTo: " + to + "\r\nSubject: " + subject +
		"\r\n"
	if date != "" {
		h += "Date: " + date + "\r\n"
	}
	return h + "\r\n" + strings.Repeat("x", pad) + "\r\n"
}

// TestSort sends SORT over a real socket: the order of each criterion,
// REVERSE, several keys, search keys after the charset, UID and
// sequence numbers, and the capability.
func TestSort(t *testing.T) {
	h := start(t, t.TempDir())
	// Delivery order (arrival, UID) differs from every other order.
	for _, m := range []string{
		sortMsg("Carol <carol@x.test>", "zed@y.test", "Re: banana",
			"Tue, 03 Jan 2006 10:00:00 +0000", 300),
		sortMsg("alice@x.test", "Bob <bob@y.test>", "[list] apple (fwd)",
			"Mon, 02 Jan 2006 10:00:00 +0000", 100),
		sortMsg("bob@x.test", "amy@y.test", "Fwd: cherry",
			"", 200), // no Date: sorts by arrival, i.e. last
		sortMsg("\"Dan\" <dan@x.test>", "cat@y.test", "=?utf-8?q?=C3=A9clair?=",
			"Wed, 04 Jan 2006 09:00:00 +0100", 50),
	} {
		h.deliver(m)
	}
	h.spreadArrivals()
	r := h.raw(true)
	if l := r.cmd("CAPABILITY"); !slices.Contains(strings.Fields(l[0]), "SORT") {
		t.Errorf("CAPABILITY without SORT: %q", l[0])
	}
	r.cmd("SELECT INBOX")
	for _, tc := range []struct{ cmd, want string }{
		{"UID SORT (DATE) UTF-8 ALL", "* SORT 2 1 4 3"},
		{"SORT (REVERSE DATE) US-ASCII ALL", "* SORT 3 4 1 2"},
		{"SORT (ARRIVAL) UTF-8 ALL", "* SORT 1 2 3 4"},
		{"sort (reverse arrival) utf-8 all", "* SORT 4 3 2 1"},
		{"SORT (SIZE) UTF-8 ALL", "* SORT 4 2 3 1"},
		{"SORT (FROM) UTF-8 ALL", "* SORT 2 3 1 4"},
		{"SORT (TO) UTF-8 ALL", "* SORT 3 2 4 1"},
		{"SORT (SUBJECT) UTF-8 ALL", "* SORT 2 1 3 4"},
		{"SORT (CC SIZE) UTF-8 ALL", "* SORT 4 2 3 1"},
		{"SORT (DATE) UTF-8 FROM x.test NOT FROM alice", "* SORT 1 4 3"},
		{"UID SORT (DATE) UTF-8 UID 2:3", "* SORT 2 3"},
		{"SORT (DATE) UTF-8 SUBJECT nothing", "* SORT"},
	} {
		lines := r.cmd(tc.cmd)
		if len(lines) != 2 || lines[0] != tc.want ||
			!strings.HasSuffix(lines[1], " SORT completed") {
			t.Errorf("%s: %q, want %q", tc.cmd, lines, tc.want)
		}
	}
}

// TestSortRefused: malformed SORT commands get the reply a SORT
// implementation owes, and a SEARCH naming a marker of its own is an
// ordinary SEARCH.
func TestSortRefused(t *testing.T) {
	h := start(t, t.TempDir())
	h.deliver(testMsg("one", "body"))
	r := h.raw(true)
	if l := last(r.cmd("SORT (DATE) UTF-8 ALL")); !strings.Contains(l, " BAD ") &&
		!strings.Contains(l, " NO ") {
		t.Errorf("SORT before SELECT: %q", l)
	}
	r.cmd("SELECT INBOX")
	for _, tc := range []struct{ cmd, want string }{
		{"SORT (FOO) UTF-8 ALL", " BAD "},
		{"SORT (REVERSE) UTF-8 ALL", " BAD "},
		{"SORT () UTF-8 ALL", " BAD "},
		{"SORT (DATE) KOI8-R ALL", " NO [BADCHARSET"},
		{"SORT DATE UTF-8 ALL", " BAD "},
		{"SORT (DATE) UTF-8", " BAD "},
		{`SORT (DATE") UTF-8 ALL`, " BAD "},
	} {
		if l := last(r.cmd(tc.cmd)); !strings.Contains(l, tc.want) {
			t.Errorf("%s: %q, want %q", tc.cmd, l, tc.want)
		}
	}
	lines := r.cmd(`SEARCH HEADER X-StrataMail-Sort-0123456789abcdef "DATE"`)
	if lines[0] != "* SEARCH" || !strings.HasSuffix(lines[1], "OK SEARCH completed") {
		t.Errorf("SEARCH with a guessed marker: %q", lines)
	}
}

// TestSortPipelined: SEARCH, SORT and SEARCH sent in one segment are
// answered in order, only the SORT's as SORT.
func TestSortPipelined(t *testing.T) {
	h := start(t, t.TempDir())
	for i := range 3 {
		h.deliver(sortMsg("a@x.test", "b@y.test", fmt.Sprint(i),
			fmt.Sprintf("Mon, 02 Jan 2006 1%d:00:00 +0000", 3-i), 10))
	}
	r := h.raw(true)
	r.cmd("SELECT INBOX")
	r.send("p1 SEARCH ALL\r\np2 UID SORT (DATE) UTF-8 ALL\r\n" +
		"p3 SEARCH ALL\r\np4 NOOP\r\n")
	got := r.upTo("p4 ")
	want := []string{"* SEARCH 1 2 3", "p1 OK SEARCH completed",
		"* SORT 3 2 1", "p2 OK UID SORT completed",
		"* SEARCH 1 2 3", "p3 OK SEARCH completed", "p4 OK NOOP completed"}
	if !slices.Equal(got, want) {
		t.Errorf("got %q\nwant %q", got, want)
	}
}

func TestBaseSubject(t *testing.T) {
	for in, want := range map[string]string{
		"Hello":                        "HELLO",
		"  Re:  Hello   world  ":       "HELLO WORLD",
		"RE: Re: re[2]: Hello":         "HELLO",
		"Fwd: FW: fw: hi (fwd) (FWD)":  "HI",
		"[list] Re: [other] topic":     "TOPIC",
		"[list]":                       "[LIST]",
		"[Fwd: Re: thing]":             "THING",
		"Really: not a leader":         "REALLY: NOT A LEADER",
		"=?utf-8?q?=C3=A9clair?=":      "éCLAIR",
		"=?iso-8859-1?q?caf=E9?= time": "CAFé TIME",
		"":                             "",
		"[":                            "[",
		"re":                           "RE",
	} {
		if got := baseSubject(in); got != want {
			t.Errorf("baseSubject(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestParseSortHead(t *testing.T) {
	const m = "M"
	for _, tc := range []struct {
		in   string
		out  string
		want sortVerdict
	}{
		{"a1 SORT (DATE) UTF-8 ", `a1 SEARCH CHARSET UTF-8 HEADER M "DATE" `, sortYes},
		{"a1 uid sort (REVERSE DATE) US-ASCII ",
			`a1 UID SEARCH CHARSET US-ASCII HEADER M "REVERSE DATE" `, sortYes},
		{"a1 SORT (DATE) UTF-8", "", sortMore},
		{"a1 U", "", sortMore},
		{"a1 UID", "", sortMore},
		{"a1", "", sortMore},
		{"a1 ", "", sortMore},
		{"a1 UID FETCH", "", sortNo},
		{"a1 SEARCH", "", sortNo},
		{"a1 SORT DATE", "", sortNo},
		{"a1 SORT (DA1E)", "", sortNo},
		{"a1 SORT () UTF-8 ", "", sortNo},
		{"a1 SORT (DATE)UTF-8 ", "", sortNo},
		{"a1 SORT (DATE) UTF\"8 ", "", sortNo},
		{"a1 SORT (DATE) {5}\r\n", "", sortNo},
		{"* SORT (DATE) UTF-8 ", "", sortNo},
		{"a+ SORT (DATE) UTF-8 ", "", sortNo},
		{strings.Repeat("a", maxSortHead), "", sortNo},
	} {
		out, v := parseSortHead([]byte(tc.in), m)
		if v != tc.want || (v == sortYes && string(out) != tc.out) {
			t.Errorf("%q: %v %q, want %v %q", tc.in, v, out, tc.want, tc.out)
		}
	}
}

func TestRewriteOutHead(t *testing.T) {
	for _, tc := range []struct {
		in                    string
		sortNext, done, offer bool
		out                   string // "" for the line as it is
		decided               bool
	}{
		{"* SEARCH 1 2\r\n", true, false, true, "* SORT 1 2\r\n", true},
		{"* SEARCH\r\n", true, false, true, "* SORT\r\n", true},
		{"* SEARCH 1 2\r\n", false, false, true, "", true},
		{"* SEA", true, false, true, "", false},
		{"* 1 FETCH", true, true, true, "", true},
		{"* CAPABILITY IMAP4rev1 IDLE\r\n", false, false, true,
			"* CAPABILITY IMAP4rev1 SORT ID IDLE\r\n", true},
		{"* CAPABILITY IMAP4rev1 IDLE\r\n", false, false, false, "", true},
		{"* OK [CAPABILITY IMAP4rev1 X] hi\r\n", false, false, true,
			"* OK [CAPABILITY IMAP4rev1 SORT ID X] hi\r\n", true},
		{"t1 OK [CAPABILITY IMAP4rev1 X] in\r\n", false, false, true,
			"t1 OK [CAPABILITY IMAP4rev1 SORT ID X] in\r\n", true},
		{"t1 OK UID SEARCH completed\r\n", false, true, false,
			"t1 OK UID SORT completed\r\n", true},
		{"t1 OK SEARCH completed\r\n", false, false, false, "", true},
		{"+ Ready\r\n", true, true, true, "", true},
		{"t1", false, false, true, "", false},
		{strings.Repeat("t", maxOutHead), false, false, true, "", true},
	} {
		out, done, _ := rewriteOutHead([]byte(tc.in), tc.sortNext, tc.done,
			tc.offer, false)
		if done != tc.decided || string(out) != tc.out {
			t.Errorf("%q: %q %v, want %q %v", tc.in, out, done, tc.out,
				tc.decided)
		}
	}
}

// inbox returns alice's INBOX folder, as the server's store holds it.
func (h *harness) inbox() *store.Folder {
	h.t.Helper()
	a, err := h.st.Account(alice)
	if err != nil {
		h.t.Fatal(err)
	}
	f, err := a.Folder("INBOX")
	if err != nil {
		h.t.Fatal(err)
	}
	return f
}

// dialSTARTTLS connects a go-imap client with STARTTLS and logs in as
// alice.
func (h *harness) dialSTARTTLS() *imapclient.Client {
	h.t.Helper()
	c, err := imapclient.DialStartTLS(h.addr, &imapclient.Options{
		TLSConfig: &tls.Config{InsecureSkipVerify: true}})
	if err != nil {
		h.t.Fatal(err)
	}
	h.t.Cleanup(func() { c.Close() })
	if err := c.Login(alice, alicePW).Wait(); err != nil {
		h.t.Fatalf("LOGIN after STARTTLS: %v", err)
	}
	return c
}

// spreadArrivals sets the INBOX's arrival times (file times) one
// second apart in delivery order, ending now: SORT compares whole
// seconds, and deliveries within one second would tie.
func (h *harness) spreadArrivals() {
	h.t.Helper()
	h.inbox().Locked(func(v *store.View) error {
		now := time.Now()
		for i := range v.Len() {
			at := now.Add(time.Duration(i-v.Len()) * time.Second)
			if err := os.Chtimes(v.At(i).Path, at, at); err != nil {
				h.t.Fatal(err)
			}
		}
		return nil
	})
}

// TestSortArrivalTies: messages that arrived within one second tie on
// ARRIVAL and keep sequence order, REVERSE or not (RFC 5256 §3).
func TestSortArrivalTies(t *testing.T) {
	h := start(t, t.TempDir())
	for i := range 3 {
		h.deliver(testMsg(fmt.Sprint("tie", i), "x"))
	}
	at := time.Now().Truncate(time.Second)
	h.inbox().Locked(func(v *store.View) error {
		for i := range v.Len() {
			t := at.Add(time.Duration(100*(v.Len()-i)) * time.Millisecond)
			os.Chtimes(v.At(i).Path, t, t) // later ones earlier, same second
		}
		return nil
	})
	r := h.raw(true)
	r.cmd("SELECT INBOX")
	for _, cmd := range []string{"SORT (ARRIVAL) UTF-8 ALL",
		"SORT (REVERSE ARRIVAL) UTF-8 ALL", "SORT (REVERSE DATE) UTF-8 ALL"} {
		if l := r.cmd(cmd); l[0] != "* SORT 1 2 3" {
			t.Errorf("%s: %q", cmd, l)
		}
	}
}

// TestSortGuardStates: SORT is recognised wherever a command may start
// (behind DONE, behind AUTHENTICATE with an initial response, after a
// refused STARTTLS), with a quoted charset and a long tag, and a
// duplicated tag never lets the guard take literal data for commands.
func TestSortGuardStates(t *testing.T) {
	h := start(t, t.TempDir())
	for i := range 3 {
		h.deliver(sortMsg("a@x.test", "b@y.test", fmt.Sprint(i),
			fmt.Sprintf("Mon, 02 Jan 2006 1%d:00:00 +0000", 3-i), 10))
	}
	ir := base64.StdEncoding.EncodeToString([]byte("\x00" + alice +
		"\x00" + alicePW))
	r := h.raw(false)
	r.send("A AUTHENTICATE PLAIN " + ir + "\r\nB SELECT INBOX\r\n" +
		"C SORT (DATE) UTF-8 ALL\r\n")
	if l := r.upTo("C "); l[len(l)-2] != "* SORT 3 2 1" {
		t.Errorf("SORT behind AUTHENTICATE: %q", l)
	}
	r.send("I IDLE\r\n")
	r.upTo("+ ")
	r.send("DONE\r\nD SORT (DATE) UTF-8 ALL\r\n")
	if l := r.upTo("D "); l[len(l)-2] != "* SORT 3 2 1" {
		t.Errorf("SORT behind DONE: %q", l)
	}
	if l := r.cmd(`SORT (DATE) "UTF-8" ALL`); l[0] != "* SORT 3 2 1" {
		t.Errorf("quoted charset: %q", l)
	}
	long := strings.Repeat("t", 300)
	r.send(long + " SORT (REVERSE DATE) UTF-8 ALL\r\n")
	if l := r.upTo(long + " "); len(l) != 2 || l[0] != "* SORT 1 2 3" ||
		l[1] != long+" OK SORT completed" {
		t.Errorf("long tag: %q", l)
	}
	if l := last(r.cmd("STARTTLS")); !strings.Contains(l, " NO ") &&
		!strings.Contains(l, " BAD ") {
		t.Fatalf("STARTTLS without TLS: %q", l)
	}
	if l := r.cmd("SORT (DATE) UTF-8 ALL"); l[0] != "* SORT 3 2 1" {
		t.Errorf("SORT after a refused STARTTLS: %q", l)
	}
	// The same tag twice: the NOOP's OK is not the APPEND's refusal.
	body := "Subject: dup\r\n\r\nline\r\nx SORT (DATE) UTF-8 ALL\r\n\r\n\r\nend"
	r.send("a NOOP\r\na APPEND INBOX {" + fmt.Sprint(len(body)) + "}\r\n")
	r.upTo("a OK NOOP")
	r.upTo("+ ")
	r.send(body + "\r\n")
	r.upTo("a OK")
	lines := r.cmd("FETCH 4 BODY[]")
	if got := strings.Join(lines, "\n"); !strings.Contains(got,
		"line\nx SORT (DATE) UTF-8 ALL\n\n\nend") {
		t.Errorf("APPEND data altered:\n%s", got)
	}
}

// TestSortKeepsListCache: the list entries a SORT makes are saved, so a
// restart does not read every message again (a client that only sorts,
// never fetching, left them unsaved).
func TestSortKeepsListCache(t *testing.T) {
	h := start(t, t.TempDir())
	for i := range 3 {
		h.deliver(testMsg(fmt.Sprint("keep", i), "x"))
	}
	r := h.raw(true)
	r.cmd("SELECT INBOX")
	if l := r.cmd("SORT (SUBJECT) UTF-8 ALL"); l[0] != "* SORT 1 2 3" {
		t.Fatalf("SORT: %q", l)
	}
	root, err := h.st.MaildirPath(alice)
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(filepath.Join(root, store.ListCacheFile))
	if err != nil || strings.Count(string(data), "Subject: keep") != 3 {
		t.Errorf("list cache after a SORT: %q, %v", data, err)
	}
}
