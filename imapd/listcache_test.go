package imapd

import (
	"bytes"
	"strings"
	"testing"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver"

	"github.com/stratamail/continuity/store"
)

// TestPickFieldsMatchesLibrary: a HEADER.FIELDS answer from the list
// cache is byte for byte what go-imap's section extraction gives from
// the message file.
func TestPickFieldsMatchesLibrary(t *testing.T) {
	msgs := []string{
		"From: a@b\r\nSubject: hi\r\nDate: Fri, 4 Dec 2026 12:00:00 +0000\r\n\r\nbody\r\n",
		"Received: x\r\nsubject: lower\r\nX-Priority: 1\r\nTO: c@d,\r\n e@f\r\n\r\n",
		"Subject: one\r\nSubject: two\r\nCc: x@y\r\n\r\n",
		"Content-Type: multipart/mixed;\r\n\tboundary=zz\r\nFrom: q@r\r\n\r\n--zz--\r\n",
		"X-Only: nothing cached\r\n\r\nbody\r\n",
	}
	fieldSets := [][]string{{"DATE"}, {"SUBJECT", "FROM"},
		{"DATE", "FROM", "TO", "SUBJECT", "CONTENT-TYPE", "CC", "REPLY-TO",
			"LIST-POST", "DISPOSITION-NOTIFICATION-TO", "X-PRIORITY"}}
	for i, m := range msgs {
		fields, complete, err := store.ListFieldsOf(strings.NewReader(m))
		if err != nil || !complete {
			t.Fatalf("message %d: %v %v", i, err, complete)
		}
		for _, names := range fieldSets {
			sec := &imap.FetchItemBodySection{
				Specifier: imap.PartSpecifierHeader, HeaderFields: names}
			want := imapserver.ExtractBodySection(
				bytes.NewReader([]byte(m)), sec)
			if got := pickFields(fields, names); !bytes.Equal(got, want) {
				t.Errorf("message %d, %v:\n got %q\nwant %q", i, names,
					got, want)
			}
		}
	}
}
