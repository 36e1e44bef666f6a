package store

import (
	"net/mail"
	"strings"
	"time"
)

// ParseDate parses a Date field (RFC 5322 §3.3, with the obsolete
// forms of §4.3 that real mail uses); ok is false when it does not
// parse. The usual form is read by hand: net/mail's ParseDate tries
// layout after layout, allocating an error for each miss, and costs
// several microseconds a field, which a list cache of 100,000 entries
// pays on every load. Other forms go to net/mail.
//
// A year before 1900 is refused, as RFC 5322 §3.3 and Dovecot do (spam
// writes "0102"), and a missing zone is taken as +0000, as Dovecot
// does, so that SORT orders such mail as Dovecot would.
func ParseDate(v string) (time.Time, bool) {
	t, ok := parseDateFast(v)
	if !ok {
		var err error
		t, err = mail.ParseDate(v)
		ok = err == nil
	}
	if !ok || t.Year() < 1900 {
		return time.Time{}, false
	}
	return t.UTC(), true
}

var months = map[string]time.Month{
	"jan": time.January, "feb": time.February, "mar": time.March,
	"apr": time.April, "may": time.May, "jun": time.June,
	"jul": time.July, "aug": time.August, "sep": time.September,
	"oct": time.October, "nov": time.November, "dec": time.December,
}

// zones are the named zones of RFC 5322 §4.3.
var zones = map[string]int{
	"UT": 0, "GMT": 0, "Z": 0,
	"EST": -5, "EDT": -4, "CST": -6, "CDT": -5,
	"MST": -7, "MDT": -6, "PST": -8, "PDT": -7,
}

// parseDateFast reads "[Day, ]D Mon YYYY HH:MM[:SS] [ZONE] [(comment)]".
func parseDateFast(v string) (time.Time, bool) {
	if i := strings.IndexByte(v, '('); i >= 0 {
		if !strings.HasSuffix(strings.TrimSpace(v), ")") ||
			strings.Count(v, "(") != 1 {
			return time.Time{}, false
		}
		v = v[:i] // a trailing comment, e.g. "(PST)"
	}
	f := strings.Fields(v)
	if len(f) > 0 && strings.HasSuffix(f[0], ",") {
		f = f[1:] // the day of the week is not checked
	}
	if len(f) == 4 {
		f = append(f, "+0000") // no zone
	}
	if len(f) != 5 {
		return time.Time{}, false
	}
	day, ok1 := digits(f[0], 1, 2)
	mon, ok2 := months[strings.ToLower(f[1])]
	year, ok3 := digits(f[2], 2, 4)
	if !ok1 || !ok2 || !ok3 {
		return time.Time{}, false
	}
	switch len(f[2]) {
	case 2:
		if year < 50 {
			year += 2000
		} else {
			year += 1900
		}
	case 3:
		year += 1900
	}
	hh, mm, ss, ok := clock(f[3])
	if !ok {
		return time.Time{}, false
	}
	off, ok := zoneOffset(f[4])
	if !ok {
		return time.Time{}, false
	}
	if d := time.Date(year, mon, day, 0, 0, 0, 0, time.UTC); d.Day() != day {
		return time.Time{}, false // 31 Feb and the like
	}
	// In UTC: the instant is what matters, and a FixedZone each would
	// cost every cached entry a Location of its own.
	return time.Date(year, mon, day, hh, mm, ss, 0, time.UTC).
		Add(-time.Duration(off) * time.Second), true
}

// digits parses s as a decimal number of min to max digits.
func digits(s string, min, max int) (int, bool) {
	if len(s) < min || len(s) > max {
		return 0, false
	}
	n := 0
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
		n = n*10 + int(s[i]-'0')
	}
	return n, true
}

// clock parses "HH:MM" or "HH:MM:SS" (a leap second is kept as 60).
func clock(s string) (h, m, sec int, ok bool) {
	p := strings.Split(s, ":")
	if len(p) < 2 || len(p) > 3 {
		return 0, 0, 0, false
	}
	h, ok1 := digits(p[0], 2, 2)
	m, ok2 := digits(p[1], 2, 2)
	ok3 := true
	if len(p) == 3 {
		sec, ok3 = digits(p[2], 2, 2)
	}
	if !ok1 || !ok2 || !ok3 || h > 23 || m > 59 || sec > 60 {
		return 0, 0, 0, false
	}
	return h, m, sec, true
}

// zoneOffset parses "+hhmm", "-hhmm" or a named zone into seconds.
func zoneOffset(s string) (int, bool) {
	if h, ok := zones[strings.ToUpper(s)]; ok {
		return h * 3600, true
	}
	if len(s) != 5 || (s[0] != '+' && s[0] != '-') {
		return 0, false
	}
	hh, ok1 := digits(s[1:3], 2, 2)
	mm, ok2 := digits(s[3:], 2, 2)
	if !ok1 || !ok2 || mm > 59 {
		return 0, false
	}
	off := hh*3600 + mm*60
	if s[0] == '-' {
		off = -off
	}
	return off, true
}
