package imapd

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
)

func TestLogin(t *testing.T) {
	h := start(t, t.TempDir())
	tests := []struct {
		user, pw string
		ok       bool
		reason   string
	}{
		{alice, alicePW, true, ""},
		{strings.ToUpper(alice), alicePW, true, ""},
		{bob, alicePW, true, ""},
		{alice, "wrong password", false, "bad password"},
		{"nobody@example.com", alicePW, false, "unknown user"},
		{aliasBob, alicePW, false, "unknown user"}, // aliases are no logins
	}
	for _, tt := range tests {
		c, err := imapclient.DialInsecure(h.addr, nil)
		if err != nil {
			t.Fatal(err)
		}
		err = c.Login(tt.user, tt.pw).Wait()
		if (err == nil) != tt.ok {
			t.Errorf("login %s/%s: %v", tt.user, tt.pw, err)
		}
		c.Close()
	}
	logs := h.log.String()
	if strings.Contains(logs, "wrong password") ||
		strings.Contains(logs, alicePW) {
		t.Errorf("password in log:\n%s", logs)
	}
	if n := strings.Count(logs, `msg="imap login"`); n != len(tests) {
		t.Errorf("%d login lines, want %d:\n%s", n, len(tests), logs)
	}
	for _, want := range []string{"outcome=ok", "reason=\"bad password\"",
		"reason=\"unknown user\"", "remote=127.0.0.1:", "conn="} {
		if !strings.Contains(logs, want) {
			t.Errorf("log lacks %s:\n%s", want, logs)
		}
	}
}

func TestAuthenticatePlain(t *testing.T) {
	h := start(t, t.TempDir())
	r := h.raw(false)
	// base64("\0alice@example.com\0correct horse battery")
	resp := "AGFsaWNlQGV4YW1wbGUuY29tAGNvcnJlY3QgaG9yc2UgYmF0dGVyeQ=="
	if got := last(r.cmd("AUTHENTICATE PLAIN " + resp)); !strings.Contains(got, "OK") {
		t.Fatalf("AUTHENTICATE PLAIN: %s", got)
	}
	caps := strings.Join(r.cmd("CAPABILITY"), " ")
	for _, c := range []string{"IMAP4rev1", "UIDPLUS", "MOVE", "NAMESPACE",
		"SPECIAL-USE", "CHILDREN", "IDLE", "UNSELECT"} {
		if !strings.Contains(caps, c) {
			t.Errorf("capability %s missing: %s", c, caps)
		}
	}
	if strings.Contains(caps, "LITERAL+") {
		t.Errorf("LITERAL+ advertised: %s", caps)
	}
}

func listString(t *testing.T, c *imapclient.Client, ref, pat string) string {
	t.Helper()
	l, err := c.List(ref, pat, nil).Collect()
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, d := range l {
		var attrs []string
		for _, a := range d.Attrs {
			attrs = append(attrs, string(a))
		}
		out = append(out, fmt.Sprintf("%s(%s)%c", d.Mailbox,
			strings.Join(attrs, " "), d.Delim))
	}
	return strings.Join(out, " ")
}

func TestList(t *testing.T) {
	h := start(t, t.TempDir())
	c := h.dial(nil)
	if err := c.Create("Work.2024", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	tests := []struct{ ref, pat, want string }{
		{"", "*", `INBOX(\HasNoChildren). Drafts(\HasNoChildren \Drafts). ` +
			`Junk(\HasNoChildren \Junk). Sent(\HasNoChildren \Sent). ` +
			`Trash(\HasNoChildren \Trash). Work(\HasChildren). ` +
			`Work.2024(\HasNoChildren).`},
		{"", "%", `INBOX(\HasNoChildren). Drafts(\HasNoChildren \Drafts). ` +
			`Junk(\HasNoChildren \Junk). Sent(\HasNoChildren \Sent). ` +
			`Trash(\HasNoChildren \Trash). Work(\HasChildren).`},
		{"Work.", "%", `Work.2024(\HasNoChildren).`},
		{"", "inbox", `INBOX(\HasNoChildren).`},
		{"", "", `(\Noselect).`},
	}
	for _, tt := range tests {
		if got := listString(t, c, tt.ref, tt.pat); got != tt.want {
			t.Errorf("LIST %q %q:\n got %s\nwant %s", tt.ref, tt.pat,
				got, tt.want)
		}
	}

	r := h.raw(true)
	lsub := r.cmd(`LSUB "" "*"`)
	if len(lsub) != 6 || !strings.Contains(lsub[0], `"INBOX"`) &&
		!strings.Contains(lsub[0], "INBOX") {
		t.Errorf("LSUB: %q", lsub)
	}
	r.cmd(`SUBSCRIBE "Work.2024"`)
	got := strings.Join(r.cmd(`LSUB "" "Work*"`), "\n")
	if !strings.Contains(got, "Work.2024") {
		t.Errorf("LSUB after SUBSCRIBE: %s", got)
	}
	data, _ := os.ReadFile(filepath.Join(h.dir, "mail", "example.com",
		"alice", "subscriptions"))
	if !strings.Contains(string(data), "Work.2024\n") {
		t.Errorf("subscriptions file: %q", data)
	}
}

func TestMailboxNamesChecked(t *testing.T) {
	h := start(t, t.TempDir())
	h.deliver(testMsg("bait", "body"))
	r := h.raw(true)
	r.cmd("SELECT INBOX")
	before := tree(t, h.dir)
	names := []string{`"../evil"`, `"a/b"`, `"INBOX.x"`, `".hidden"`,
		`"a..b"`, `"` + strings.Repeat("x", 300) + `"`, `"~"`,
		`"~bob"`, `"/etc"`, `".."`, `"."`, `"cur"`, `"new"`, `"tmp"`,
		`"Sent.cur"`, `"a.tmp.b"`, `"../bob"`, `"../../example.com/bob"`}
	for _, name := range names {
		for _, cmd := range []string{"CREATE " + name,
			"SELECT " + name, "EXAMINE " + name, "DELETE " + name,
			"STATUS " + name + " (MESSAGES)", "SUBSCRIBE " + name,
			"RENAME Sent " + name, "RENAME " + name + " Junk",
			"COPY 1 " + name, "MOVE 1 " + name} {
			if cmd == "SELECT "+name || cmd == "EXAMINE "+name {
				got := last(r.cmd(cmd))
				r.cmd("SELECT INBOX") // a failed SELECT unselects
				if !strings.Contains(got, " NO ") {
					t.Errorf("%s: %s", cmd, got)
				}
				continue
			}
			if got := last(r.cmd(cmd)); !strings.Contains(got, " NO ") {
				t.Errorf("%s: %s", cmd, got)
			}
		}
		if got := r.appendTo(name, "Subject: x\r\n\r\nx\r\n"); !strings.
			Contains(got, " NO ") {
			t.Errorf("APPEND %s: %s", name, got)
		}
	}
	// Control characters never reach us: beta.8's modified UTF-7
	// decoder refuses them (the guard makes that NO [CANNOT],
	// badargs.go); store refuses them too
	// (TestValidateName). After one inside a literal beta.8 also drops
	// the connection, so only the quoted form is tried here.
	if got := last(r.cmd("CREATE \"a\tb\"")); !strings.Contains(got, " NO ") {
		t.Errorf("CREATE with a tab: %s", got)
	}
	got := last(r.cmd(`CREATE "../evil"`))
	if !strings.Contains(got, "Invalid mailbox name") {
		t.Errorf("no clear text: %s", got)
	}
	if after := tree(t, h.dir); after != before {
		t.Errorf("the data folder changed:\nbefore:\n%s\nafter:\n%s",
			before, after)
	}
}

// tree lists every folder and file under dir, but the files our own
// bookkeeping rewrites, one per line.
func tree(t testing.TB, dir string) string {
	t.Helper()
	var b strings.Builder
	filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		switch d.Name() {
		case "stratamail-uidlist", "subscriptions":
			return nil
		}
		rel, _ := filepath.Rel(dir, p)
		b.WriteString(rel + "\n")
		return nil
	})
	return b.String()
}

// fetchAll fetches everything about every message.
func fetchAll(t *testing.T, c *imapclient.Client,
	sec *imap.FetchItemBodySection) []*imapclient.FetchMessageBuffer {
	t.Helper()
	opts := &imap.FetchOptions{UID: true, Flags: true, RFC822Size: true,
		InternalDate: true, Envelope: true,
		BodyStructure: &imap.FetchItemBodyStructure{Extended: true}}
	if sec != nil {
		opts.BodySection = []*imap.FetchItemBodySection{sec}
	}
	msgs, err := c.Fetch(imap.SeqSet{{Start: 1, Stop: 0}}, opts).Collect()
	if err != nil {
		t.Fatal(err)
	}
	return msgs
}

func TestFetchDelivered(t *testing.T) {
	h := start(t, t.TempDir())
	msg := testMsg("Hello there", "Körper des Textes.")
	h.deliver(msg)
	c := h.dial(nil)
	sel, err := c.Select("INBOX", nil).Wait()
	if err != nil || sel.NumMessages != 1 || sel.UIDNext != 2 {
		t.Fatalf("select: %+v %v", sel, err)
	}
	peek := &imap.FetchItemBodySection{Peek: true}
	m := fetchAll(t, c, peek)[0]
	if got := string(m.FindBodySection(peek)); got != msg {
		t.Errorf("BODY.PEEK[] = %q", got)
	}
	if m.RFC822Size != int64(len(msg)) || m.UID != 1 ||
		m.Envelope.Subject != "Hello there" || len(m.Flags) != 0 {
		t.Errorf("size %d uid %d env %+v flags %v", m.RFC822Size, m.UID,
			m.Envelope, m.Flags)
	}
	bs, ok := m.BodyStructure.(*imap.BodyStructureSinglePart)
	if !ok || bs.Type != "text" || bs.Subtype != "plain" {
		t.Errorf("bodystructure %#v", m.BodyStructure)
	}

	sections := []struct {
		sec  *imap.FetchItemBodySection
		want string
	}{
		{&imap.FetchItemBodySection{Peek: true,
			Partial: &imap.SectionPartial{Offset: 6, Size: 3}}, msg[6:9]},
		{&imap.FetchItemBodySection{Peek: true,
			Partial: &imap.SectionPartial{Offset: 1 << 20, Size: 3}}, ""},
		{&imap.FetchItemBodySection{Peek: true,
			Specifier: imap.PartSpecifierText}, "Körper des Textes.\r\n"},
		{&imap.FetchItemBodySection{Peek: true,
			Specifier:    imap.PartSpecifierHeader,
			HeaderFields: []string{"Subject"}}, "Subject: Hello there\r\n\r\n"},
		{&imap.FetchItemBodySection{Peek: true, Part: []int{1}},
			"Körper des Textes.\r\n"},
	}
	for _, s := range sections {
		got, err := c.Fetch(imap.SeqSetNum(1), &imap.FetchOptions{
			BodySection: []*imap.FetchItemBodySection{s.sec}}).Collect()
		if err != nil {
			t.Fatal(err)
		}
		if b := string(got[0].FindBodySection(s.sec)); b != s.want {
			t.Errorf("section %+v = %q, want %q", s.sec, b, s.want)
		}
	}
	if flags := fetchAll(t, c, nil)[0].Flags; len(flags) != 0 {
		t.Errorf("PEEK set flags %v", flags)
	}

	// A plain BODY[] sets \Seen, and the file name says so.
	got := fetchAll(t, c, &imap.FetchItemBodySection{})[0]
	if !slices.Contains(got.Flags, imap.FlagSeen) {
		t.Errorf("BODY[] did not set \\Seen: %v", got.Flags)
	}
	files, _ := filepath.Glob(filepath.Join(h.dir, "mail", "example.com",
		"alice", "cur", "*:2,S"))
	if len(files) != 1 {
		t.Errorf("no cur/*:2,S file: %v", files)
	}
}

// maildirFiles returns the base names in alice's folder sub directory.
func maildirFiles(t *testing.T, h *harness, folder, sub string) []string {
	t.Helper()
	dir := filepath.Join(h.dir, "mail", "example.com", "alice")
	if folder != "INBOX" {
		dir = filepath.Join(dir, "."+folder)
	}
	ents, err := os.ReadDir(filepath.Join(dir, sub))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	return names
}

func TestStoreFlagsPersisted(t *testing.T) {
	h := start(t, t.TempDir())
	h.deliver(testMsg("one", "x"))
	c := h.dial(nil)
	c.Select("INBOX", nil).Wait()
	steps := []struct {
		op    imap.StoreFlagsOp
		flags []imap.Flag
		info  string
	}{
		{imap.StoreFlagsAdd, []imap.Flag{imap.FlagFlagged, imap.FlagAnswered}, ":2,FR"},
		{imap.StoreFlagsAdd, []imap.Flag{imap.FlagSeen, "$Forwarded"}, ":2,FPRS"},
		{imap.StoreFlagsDel, []imap.Flag{imap.FlagFlagged}, ":2,PRS"},
		{imap.StoreFlagsSet, []imap.Flag{imap.FlagDraft, "$Custom"}, ":2,D"},
		{imap.StoreFlagsSet, nil, ":2,"},
	}
	for _, s := range steps {
		res, err := c.Store(imap.UIDSetNum(1), &imap.StoreFlags{
			Op: s.op, Flags: s.flags}, nil).Collect()
		if err != nil || len(res) != 1 || res[0].UID != 1 {
			t.Fatalf("store %v: %v %v", s.flags, res, err)
		}
		files := maildirFiles(t, h, "INBOX", "cur")
		if len(files) != 1 || !strings.HasSuffix(files[0], s.info) {
			t.Errorf("after %v %v: files %v, want *%s", s.op, s.flags,
				files, s.info)
		}
	}
	res, err := c.Store(imap.SeqSetNum(1), &imap.StoreFlags{
		Op: imap.StoreFlagsAdd, Silent: true,
		Flags: []imap.Flag{imap.FlagSeen}}, nil).Collect()
	if err != nil || len(res) != 0 {
		t.Errorf(".SILENT answered %v %v", res, err)
	}
}

func TestExpunge(t *testing.T) {
	h := start(t, t.TempDir())
	for i := 1; i <= 5; i++ {
		h.deliver(testMsg(fmt.Sprint("m", i), "x"))
	}
	c := h.dial(nil)
	c.Select("INBOX", nil).Wait()
	del := &imap.StoreFlags{Op: imap.StoreFlagsAdd,
		Flags: []imap.Flag{imap.FlagDeleted}}
	c.Store(imap.SeqSetNum(2, 4, 5), del, nil).Close()
	// UID EXPUNGE takes only the listed UIDs (RFC 4315).
	seqs, err := c.UIDExpunge(imap.UIDSetNum(4)).Collect()
	if err != nil || fmt.Sprint(seqs) != "[4]" {
		t.Errorf("UID EXPUNGE: %v %v", seqs, err)
	}
	seqs, err = c.Expunge().Collect()
	if err != nil || fmt.Sprint(seqs) != "[4 2]" {
		t.Errorf("EXPUNGE: %v %v", seqs, err)
	}
	msgs := fetchAll(t, c, nil)
	var uids []imap.UID
	for _, m := range msgs {
		uids = append(uids, m.UID)
	}
	if fmt.Sprint(uids) != "[1 3]" {
		t.Errorf("left: %v", uids)
	}
	if n := len(maildirFiles(t, h, "INBOX", "cur")) +
		len(maildirFiles(t, h, "INBOX", "new")); n != 2 {
		t.Errorf("%d files left", n)
	}
}

func TestCopyMoveAppend(t *testing.T) {
	h := start(t, t.TempDir())
	msg := testMsg("copy me", "body")
	h.deliver(msg)
	h.deliver(testMsg("move me", "body"))
	c := h.dial(nil)
	c.Select("INBOX", nil).Wait()
	c.Store(imap.SeqSetNum(1), &imap.StoreFlags{Op: imap.StoreFlagsAdd,
		Flags: []imap.Flag{imap.FlagFlagged}}, nil).Close()

	cd, err := c.Copy(imap.SeqSetNum(1), "Sent").Wait()
	if err != nil || cd.DestUIDs.String() != "1" ||
		cd.SourceUIDs.String() != "1" || cd.UIDValidity == 0 {
		t.Fatalf("COPY: %+v %v", cd, err)
	}
	if _, err := c.Copy(imap.SeqSetNum(1), "Nope").Wait(); err == nil ||
		!strings.Contains(err.Error(), "TRYCREATE") {
		t.Errorf("COPY to missing: %v", err)
	}
	md, err := c.Move(imap.UIDSetNum(2), "Trash").Wait()
	if err != nil || md.DestUIDs.String() != "1" {
		t.Fatalf("MOVE: %+v %v", md, err)
	}
	if n := len(fetchAll(t, c, nil)); n != 1 {
		t.Errorf("INBOX has %d after MOVE", n)
	}

	draft := testMsg("draft", "unfinished")
	ac := c.Append("Drafts", int64(len(draft)), &imap.AppendOptions{
		Flags: []imap.Flag{imap.FlagDraft, imap.FlagSeen},
		Time:  time.Date(2023, 3, 4, 5, 6, 7, 0, time.UTC)})
	ac.Write([]byte(draft))
	ac.Close()
	ad, err := ac.Wait()
	if err != nil || ad.UID != 1 {
		t.Fatalf("APPEND: %+v %v", ad, err)
	}

	for _, f := range []struct{ box, body, flags string }{
		{"Sent", msg, `[\Flagged]`},
		{"Drafts", draft, `[\Draft \Seen]`},
	} {
		if _, err := c.Select(f.box, nil).Wait(); err != nil {
			t.Fatal(err)
		}
		peek := &imap.FetchItemBodySection{Peek: true}
		m := fetchAll(t, c, peek)[0]
		if string(m.FindBodySection(peek)) != f.body ||
			fmt.Sprint(m.Flags) != f.flags {
			t.Errorf("%s: flags %v body %q", f.box, m.Flags,
				m.FindBodySection(peek))
		}
		if f.box == "Drafts" && m.InternalDate.Year() != 2023 {
			t.Errorf("internal date %v", m.InternalDate)
		}
	}
}

func TestTruncatedAppendStoresNothing(t *testing.T) {
	h := start(t, t.TempDir())
	r := h.raw(true)
	fmt.Fprintf(r.c, "a1 APPEND INBOX {100}\r\n")
	if l := r.line(); !strings.HasPrefix(l, "+") {
		t.Fatalf("no continuation: %s", l)
	}
	fmt.Fprintf(r.c, "%s", strings.Repeat("x", 50))
	r.c.(interface{ CloseWrite() error }).CloseWrite()
	r.br.ReadString(0) // until the server hangs up

	c := h.dial(nil)
	st, err := c.Status("INBOX", &imap.StatusOptions{NumMessages: true}).Wait()
	if err != nil || *st.NumMessages != 0 {
		t.Errorf("INBOX after truncated APPEND: %v %v", st, err)
	}
	for _, sub := range []string{"cur", "new", "tmp"} {
		if f := maildirFiles(t, h, "INBOX", sub); len(f) != 0 {
			t.Errorf("%s: %v", sub, f)
		}
	}
}

func TestExamineIsReadOnly(t *testing.T) {
	h := start(t, t.TempDir())
	h.deliver(testMsg("a", "x"))
	c := h.dial(nil)
	c.Select("INBOX", nil).Wait()
	c.Store(imap.SeqSetNum(1), &imap.StoreFlags{Op: imap.StoreFlagsAdd,
		Flags: []imap.Flag{imap.FlagDeleted}}, nil).Close()
	c.Logout()

	r := h.raw(true)
	if got := last(r.cmd("EXAMINE INBOX")); !strings.Contains(got, "READ-ONLY") {
		t.Fatalf("EXAMINE: %s", got)
	}
	for _, cmd := range []string{`STORE 1 +FLAGS (\Seen)`, "EXPUNGE",
		"UID EXPUNGE 1", "MOVE 1 Trash"} {
		if got := last(r.cmd(cmd)); !strings.Contains(got, "NO [READ-ONLY]") {
			t.Errorf("%s in EXAMINE: %s", cmd, got)
		}
	}
	body := strings.Join(r.cmd("FETCH 1 (BODY[] FLAGS)"), "\n")
	if strings.Contains(body, `\Seen`) {
		t.Errorf("BODY[] set \\Seen under EXAMINE: %s", body)
	}
	if got := last(r.cmd("CLOSE")); !strings.Contains(got, "OK") {
		t.Errorf("CLOSE after EXAMINE: %s", got)
	}
	files := maildirFiles(t, h, "INBOX", "cur")
	if len(files) != 1 || !strings.HasSuffix(files[0], ":2,T") {
		t.Errorf("files after CLOSE: %v", files)
	}
}

func TestStatusFillsEverything(t *testing.T) {
	h := start(t, t.TempDir())
	h.deliver(testMsg("a", "x"))
	h.deliver(testMsg("b", "y"))
	r := h.raw(true)
	got := r.cmd("STATUS INBOX (MESSAGES RECENT UIDNEXT UIDVALIDITY " +
		"UNSEEN DELETED SIZE APPENDLIMIT DELETED-STORAGE)")
	if !strings.Contains(last(got), "OK") || len(got) != 2 {
		t.Fatalf("STATUS: %q", got)
	}
	for _, want := range []string{"MESSAGES 2", "UIDNEXT 3", "UNSEEN 2",
		"DELETED 0", "RECENT 0", "DELETED-STORAGE 0", "APPENDLIMIT NIL"} {
		if !strings.Contains(got[0], want) {
			t.Errorf("STATUS lacks %s: %s", want, got[0])
		}
	}
	// ESEARCH form with nothing found must not panic the connection.
	r.cmd("SELECT INBOX")
	got = r.cmd("SEARCH RETURN (MIN MAX COUNT ALL) SUBJECT nothing")
	if !strings.Contains(last(got), "OK") ||
		!strings.Contains(got[0], "COUNT 0") {
		t.Errorf("ESEARCH: %q", got)
	}
}

func TestSearch(t *testing.T) {
	h := start(t, t.TempDir())
	h.deliver(testMsg("Quarterly report", "numbers inside"))
	h.deliver(testMsg("Lunch", "pizza? =C3=A4"))
	h.deliver("From: Carol <carol@example.org>\r\nSubject: =?utf-8?q?Gr=C3=BC=C3=9Fe?=\r\n" +
		"Content-Type: text/plain; charset=utf-8\r\n" +
		"Content-Transfer-Encoding: base64\r\n\r\n" +
		"SGVsbG8gV29ybGQ=\r\n")
	c := h.dial(nil)
	c.Select("INBOX", nil).Wait()
	c.Store(imap.SeqSetNum(2), &imap.StoreFlags{Op: imap.StoreFlagsAdd,
		Flags: []imap.Flag{imap.FlagSeen}}, nil).Close()
	today := time.Now()
	tests := []struct {
		name string
		c    imap.SearchCriteria
		want string
	}{
		{"all", imap.SearchCriteria{}, "[1 2 3]"},
		{"subject", imap.SearchCriteria{Header: []imap.SearchCriteriaHeaderField{
			{Key: "Subject", Value: "REPORT"}}}, "[1]"},
		{"decoded subject", imap.SearchCriteria{Header: []imap.SearchCriteriaHeaderField{
			{Key: "Subject", Value: "grüße"}}}, "[3]"},
		{"from", imap.SearchCriteria{Header: []imap.SearchCriteriaHeaderField{
			{Key: "From", Value: "bob@"}}}, "[1 2]"},
		{"header present", imap.SearchCriteria{Header: []imap.SearchCriteriaHeaderField{
			{Key: "Message-Id", Value: ""}}}, "[1 2]"},
		{"body", imap.SearchCriteria{Body: []string{"PIZZA"}}, "[2]"},
		{"body base64", imap.SearchCriteria{Body: []string{"hello world"}}, "[3]"},
		{"text", imap.SearchCriteria{Text: []string{"carol"}}, "[3]"},
		{"seen", imap.SearchCriteria{Flag: []imap.Flag{imap.FlagSeen}}, "[2]"},
		{"unseen", imap.SearchCriteria{NotFlag: []imap.Flag{imap.FlagSeen}}, "[1 3]"},
		{"keyword", imap.SearchCriteria{Flag: []imap.Flag{"$x"}}, "[]"},
		{"not", imap.SearchCriteria{Not: []imap.SearchCriteria{
			{Body: []string{"pizza"}}}}, "[1 3]"},
		{"or", imap.SearchCriteria{Or: [][2]imap.SearchCriteria{{
			{SeqNum: []imap.SeqSet{imap.SeqSetNum(1)}},
			{UID: []imap.UIDSet{{{Start: 3, Stop: 0}}}}}}}, "[1 3]"},
		{"star", imap.SearchCriteria{SeqNum: []imap.SeqSet{{{Start: 0, Stop: 0}}}}, "[3]"},
		{"since today", imap.SearchCriteria{Since: today}, "[1 2 3]"},
		{"before today", imap.SearchCriteria{Before: today}, "[]"},
		{"sent before", imap.SearchCriteria{SentBefore: today}, "[1 2]"},
		{"larger", imap.SearchCriteria{Larger: 198}, "[1]"},
		{"smaller", imap.SearchCriteria{Smaller: 198}, "[3]"},
	}
	for _, tt := range tests {
		d, err := c.Search(&tt.c, nil).Wait()
		if err != nil {
			t.Errorf("%s: %v", tt.name, err)
			continue
		}
		if got := fmt.Sprint(d.AllSeqNums()); got != tt.want {
			t.Errorf("%s: %s, want %s", tt.name, got, tt.want)
		}
	}
	d, err := c.UIDSearch(&imap.SearchCriteria{Body: []string{"pizza"}}, nil).Wait()
	if err != nil || fmt.Sprint(d.AllUIDs()) != "[2]" {
		t.Errorf("UID SEARCH: %v %v", d, err)
	}
}

func TestUIDsSurviveRestart(t *testing.T) {
	dir := t.TempDir()
	h := start(t, dir)
	for i := 0; i < 3; i++ {
		h.deliver(testMsg(fmt.Sprint("r", i), "x"))
	}
	c := h.dial(nil)
	sel, _ := c.Select("INBOX", nil).Wait()
	c.Store(imap.SeqSetNum(2), &imap.StoreFlags{Op: imap.StoreFlagsAdd,
		Flags: []imap.Flag{imap.FlagDeleted, imap.FlagSeen}}, nil).Close()
	c.Expunge().Close()
	c.Logout()
	h.srv.Close()

	h2 := start(t, dir)
	h2.deliver(testMsg("after restart", "x"))
	c2 := h2.dial(nil)
	sel2, err := c2.Select("INBOX", nil).Wait()
	if err != nil || sel2.UIDValidity != sel.UIDValidity || sel2.UIDNext != 5 {
		t.Fatalf("after restart: %+v (before %+v) %v", sel2, sel, err)
	}
	var uids []imap.UID
	for _, m := range fetchAll(t, c2, nil) {
		uids = append(uids, m.UID)
	}
	if fmt.Sprint(uids) != "[1 3 4]" {
		t.Errorf("UIDs after restart %v, want [1 3 4]", uids)
	}
}

func TestSessionsSeeEachOther(t *testing.T) {
	h := start(t, t.TempDir())
	h.deliver(testMsg("a", "x"))
	h.deliver(testMsg("b", "x"))
	var exists, expunged, flagged atomic.Int32
	a := h.dial(&imapclient.Options{UnilateralDataHandler: &imapclient.UnilateralDataHandler{
		Mailbox: func(d *imapclient.UnilateralDataMailbox) {
			if d.NumMessages != nil {
				exists.Store(int32(*d.NumMessages))
			}
		},
		Expunge: func(uint32) { expunged.Add(1) },
		Fetch:   func(*imapclient.FetchMessageData) { flagged.Add(1) },
	}})
	a.Select("INBOX", nil).Wait()
	b := h.dial(nil)
	b.Select("INBOX", nil).Wait()
	b.Store(imap.SeqSetNum(1), &imap.StoreFlags{Op: imap.StoreFlagsAdd,
		Flags: []imap.Flag{imap.FlagDeleted}}, nil).Close()
	b.Expunge().Close()
	h.deliver(testMsg("c", "x"))
	if err := a.Noop().Wait(); err != nil {
		t.Fatal(err)
	}
	// imapclient runs the Fetch handler in a goroutine: give it time.
	for i := 0; i < 100 && flagged.Load() == 0; i++ {
		time.Sleep(10 * time.Millisecond)
	}
	if expunged.Load() != 1 || exists.Load() != 2 || flagged.Load() != 1 {
		t.Errorf("A saw expunge %d exists %d fetch %d",
			expunged.Load(), exists.Load(), flagged.Load())
	}
}

// TestIdleSeesDelivery: deliveries during IDLE are announced, once
// through the folder watch (with a poll too slow to matter) and once by
// the poll alone (the watch off, as when inotify is out of instances).
func TestIdleSeesDelivery(t *testing.T) {
	for _, tc := range []struct {
		name  string
		watch bool
		poll  time.Duration
	}{
		{"watched", true, time.Hour},
		{"polled", false, 50 * time.Millisecond},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := startWith(t, t.TempDir(), func(o *Options) {
				o.IdlePoll = tc.poll
			})
			if !tc.watch {
				h.srv.idle.err = errors.New("off")
			}
			idleSees(t, h)
		})
	}
}

// idleSees delivers two messages to an IDLE session and waits for
// each EXISTS.
func idleSees(t *testing.T, h *harness) {
	got := make(chan uint32, 4)
	c := h.dial(&imapclient.Options{UnilateralDataHandler: &imapclient.UnilateralDataHandler{
		Mailbox: func(d *imapclient.UnilateralDataMailbox) {
			if d.NumMessages != nil {
				got <- *d.NumMessages
			}
		},
	}})
	c.Select("INBOX", nil).Wait()
	idle, err := c.Idle()
	if err != nil {
		t.Fatal(err)
	}
	for want := uint32(1); want <= 2; want++ {
		h.deliver(testMsg(fmt.Sprintf("while idle %d", want), "x"))
		select {
		case n := <-got:
			if n != want {
				t.Errorf("EXISTS %d, want %d", n, want)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("no EXISTS %d during IDLE", want)
		}
	}
	idle.Close()
	if err := idle.Wait(); err != nil {
		t.Error(err)
	}
}

// TestListViewFromCache fetches what Roundcube's message list asks for,
// restarts the server, and fetches it again with the message files cut
// short: the answers come from the list cache and are the same.
func TestListViewFromCache(t *testing.T) {
	dir := t.TempDir()
	h := start(t, dir)
	h.deliver(testMsg("first", "one"))
	h.deliver(testMsg("second", "two"))
	const list = "UID FETCH 1:* (UID RFC822.SIZE FLAGS INTERNALDATE " +
		"ENVELOPE BODY.PEEK[HEADER.FIELDS (DATE FROM TO SUBJECT " +
		"CONTENT-TYPE CC REPLY-TO LIST-POST DISPOSITION-NOTIFICATION-TO " +
		"X-PRIORITY)])"
	r := h.raw(true)
	r.cmd("SELECT INBOX")
	before := r.cmd(list)
	if !strings.Contains(strings.Join(before, "\n"), "Subject: second") {
		t.Fatalf("list view: %q", before)
	}
	h.srv.Close()

	filepath.WalkDir(filepath.Join(dir, "mail"), func(p string,
		d os.DirEntry, err error) error {
		parent := filepath.Base(filepath.Dir(p))
		if err == nil && !d.IsDir() && (parent == "new" || parent == "cur") {
			os.WriteFile(p, nil, 0o600) // only the cache knows them now
		}
		return nil
	})
	h2 := start(t, dir)
	r2 := h2.raw(true)
	r2.cmd("SELECT INBOX")
	after := r2.cmd(list)
	if strings.Join(before[:len(before)-1], "\n") !=
		strings.Join(after[:len(after)-1], "\n") {
		t.Errorf("after a restart:\n%s\nwant:\n%s",
			strings.Join(after, "\n"), strings.Join(before, "\n"))
	}
}
