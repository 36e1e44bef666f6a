package smtpd

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

func TestLoginServer(t *testing.T) {
	errBad := errors.New("bad")
	check := func(user, pass string) error {
		if user == "u" && pass == "p" {
			return nil
		}
		return errBad
	}
	tests := []struct {
		name      string
		responses [][]byte // nil: no initial response
		wantErr   error
		prompts   []string
	}{
		{"prompted for both", [][]byte{nil, []byte("u"), []byte("p")},
			nil, []string{"Username:", "Password:", ""}},
		{"initial response", [][]byte{[]byte("u"), []byte("p")},
			nil, []string{"Password:", ""}},
		{"wrong password", [][]byte{nil, []byte("u"), []byte("x")},
			errBad, []string{"Username:", "Password:", ""}},
		{"empty initial response", [][]byte{{}, []byte("p")},
			errBad, []string{"Password:", ""}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			l := newLoginServer(check)
			var err error
			for i, r := range tc.responses {
				var ch []byte
				var done bool
				ch, done, err = l.Next(r)
				last := i == len(tc.responses)-1
				if string(ch) != tc.prompts[i] || done != last {
					t.Fatalf("step %d: %q done %v", i, ch, done)
				}
			}
			if err != tc.wantErr {
				t.Errorf("err %v, want %v", err, tc.wantErr)
			}
			if _, _, err := l.Next([]byte("more")); err != errLoginState {
				t.Errorf("after the end: %v", err)
			}
		})
	}
}

func TestHeaderCapture(t *testing.T) {
	msg := "From: <a@x>\r\nSubject: s\r\n\r\nbody\r\n\r\nmore\r\n"
	for _, size := range []int{1, 2, 3, 5, 100} {
		var h headerCapture
		for i := 0; i < len(msg); i += size {
			h.Write([]byte(msg[i:min(i+size, len(msg))]))
		}
		if string(h.buf) != "From: <a@x>\r\nSubject: s\r\n\r\n" {
			t.Errorf("chunks of %d: captured %q", size, h.buf)
		}
	}
	var h headerCapture
	h.Write(bytes.Repeat([]byte("X-A: b\r\n"), maxHeader/8+1))
	if _, err := h.header(); err == nil {
		t.Errorf("an endless header section parsed")
	}
}

// FuzzAuthorAddrs feeds message heads, in two pieces, to the From:
// check: it may refuse them, never panic, and whatever it returns is
// an address in lower case.
func FuzzAuthorAddrs(f *testing.F) {
	for _, s := range []string{
		"From: Alice <alice@example.test>\r\n\r\nbody",
		"From: =?utf-8?b?w6k=?= <a@x>, b@y\r\nSender: c@z\r\n\r\n",
		"From: \"a\\\"b\" <a@x>\r\n\tfolded\r\n\r\n",
		"From: undisclosed:;\r\n\r\n",
		"\r\nno header",
		"From: <a@x>",
	} {
		f.Add([]byte(s), 3)
	}
	f.Fuzz(func(t *testing.T, data []byte, cut int) {
		var h headerCapture
		cut = min(max(cut, 0), len(data))
		h.Write(data[:cut])
		h.Write(data[cut:])
		hdr, err := h.header()
		if err != nil {
			return
		}
		addrs, err := authorAddrs(hdr)
		if err != nil {
			return
		}
		for _, a := range addrs {
			if a != strings.ToLower(a) {
				t.Errorf("address %q not lower case", a)
			}
		}
	})
}
