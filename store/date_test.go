package store

import (
	"net/mail"
	"strings"
	"testing"
	"time"
)

func TestParseDate(t *testing.T) {
	utc := func(y int, mo time.Month, d, h, mi, s int) time.Time {
		return time.Date(y, mo, d, h, mi, s, 0, time.UTC)
	}
	for _, tc := range []struct {
		in   string
		want time.Time // zero: does not parse
	}{
		{"Mon, 02 Jan 2006 15:04:05 -0700", utc(2006, 1, 2, 22, 4, 5)},
		{"2 Jan 2006 15:04 +0100", utc(2006, 1, 2, 14, 4, 0)},
		{"Tue, 20 Aug 2002 10:28:22 -0700 (PDT)", utc(2002, 8, 20, 17, 28, 22)},
		{"Tue,  20  AUG  2002 10:28:22   GMT", utc(2002, 8, 20, 10, 28, 22)},
		{"Fri, 07 Jun 02 08:46:41 +0900", utc(2002, 6, 6, 23, 46, 41)},
		{"Fri, 07 Jun 99 08:46:41 EST", utc(1999, 6, 7, 13, 46, 41)},
		{"Fri, 07 Jun 102 08:46:41 +0000", utc(2002, 6, 7, 8, 46, 41)},
		{"31 Dec 1999 23:59:60 +0000", utc(2000, 1, 1, 0, 0, 0)},
		{"Mon, 2 Jan 2006 15:04:05 MST", utc(2006, 1, 2, 22, 4, 5)},
		{"Fri, 02 Aug 2002 15:54:23", utc(2002, 8, 2, 15, 54, 23)},
		{"Fri, 07 Jun 0102 08:46:41 +0900", time.Time{}},
		{"31 Feb 2006 10:00:00 +0000", time.Time{}},
		{"2 Foo 2006 10:00:00 +0000", time.Time{}},
		{"2 Jan 2006 25:00:00 +0000", time.Time{}},
		{"2 Jan 2006 10:00:00 +0099", time.Time{}},
		{"yesterday", time.Time{}},
		{"", time.Time{}},
	} {
		got, ok := ParseDate(tc.in)
		if ok != !tc.want.IsZero() || (ok && !got.Equal(tc.want)) {
			t.Errorf("ParseDate(%q) = %v %v, want %v", tc.in, got, ok,
				tc.want)
		}
	}
}

// FuzzParseDate: where net/mail also reads a date with a four-digit
// year and a zone, both agree on the instant; nothing panics.
func FuzzParseDate(f *testing.F) {
	f.Add("Mon, 02 Jan 2006 15:04:05 -0700")
	f.Add("2 Jan 2006 15:04 GMT (comment)")
	f.Add("Fri, 07 Jun 02 08:46:41 +0900")
	f.Fuzz(func(t *testing.T, v string) {
		got, ok := parseDateFast(v)
		if !ok {
			return
		}
		want, err := mail.ParseDate(v)
		if err != nil {
			return
		}
		// The year is the third field after the day of the week.
		w := strings.Fields(strings.Split(v, "(")[0])
		if len(w) > 0 && strings.HasSuffix(w[0], ",") {
			w = w[1:]
		}
		if len(w) == 5 && len(w[2]) == 4 && !got.Equal(want) {
			t.Fatalf("%q: %v, net/mail %v", v, got, want)
		}
	})
}
