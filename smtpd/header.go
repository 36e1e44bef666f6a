package smtpd

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"mime"
	"net/mail"
	"net/textproto"
	"strings"

	"github.com/emersion/go-message/charset"
)

// maxHeader is the most of a submitted message's header section kept
// for the From: check; a longer header section is refused.
const maxHeader = 256 << 10

// headerCapture keeps the header section of a body as it streams by:
// everything up to and including the first empty line.
type headerCapture struct {
	buf  []byte
	done bool // the empty line was seen
	over bool // the section is longer than maxHeader
}

// Write takes the next piece of the body.
func (h *headerCapture) Write(p []byte) {
	if h.done || h.over {
		return
	}
	start := max(len(h.buf)-3, 0)
	h.buf = append(h.buf, p...)
	if i := bytes.Index(h.buf[start:], []byte("\r\n\r\n")); i >= 0 {
		h.buf, h.done = h.buf[:start+i+4], true
	} else if bytes.HasPrefix(h.buf, []byte("\r\n")) {
		h.buf, h.done = h.buf[:2], true // no header fields at all
	} else if len(h.buf) > maxHeader {
		h.over, h.buf = true, nil
	}
}

// header returns the parsed header section; a body without a body part
// is all header.
func (h *headerCapture) header() (textproto.MIMEHeader, error) {
	if h.over {
		return nil, errors.New("header section too long")
	}
	data := h.buf
	if !h.done {
		data = append(bytes.TrimRight(data, "\r\n"), "\r\n\r\n"...)
	}
	r := textproto.NewReader(bufioReader(data))
	hdr, err := r.ReadMIMEHeader()
	if err != nil {
		return nil, fmt.Errorf("bad header section: %w", err)
	}
	return hdr, nil
}

// addrParser decodes encoded words (RFC 2047) in any charset
// go-message knows, so that a display name never fails the check.
var addrParser = mail.AddressParser{
	WordDecoder: &mime.WordDecoder{CharsetReader: charset.Reader},
}

// authorAddrs returns the addresses of the From: and Sender: fields
// (RFC 5322 §3.6.2): the author addresses a submission must own. A
// missing or repeated From:, or one that does not parse, is an error.
func authorAddrs(h textproto.MIMEHeader) ([]string, error) {
	froms := h.Values("From")
	if len(froms) != 1 {
		return nil, fmt.Errorf("%d From: fields, not one", len(froms))
	}
	var out []string
	for _, name := range []string{"From", "Sender"} {
		vals := h.Values(name)
		if len(vals) > 1 {
			return nil, fmt.Errorf("%d %s: fields", len(vals), name)
		}
		if len(vals) == 0 {
			continue
		}
		list, err := addrParser.ParseList(vals[0])
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		if len(list) == 0 {
			// A group such as "undisclosed:;" names nobody; RFC
			// 5322 §3.6.2 wants mailboxes here.
			return nil, fmt.Errorf("%s: names no mailbox", name)
		}
		for _, a := range list {
			out = append(out, strings.ToLower(a.Address))
		}
	}
	return out, nil
}

func bufioReader(b []byte) *bufio.Reader {
	return bufio.NewReader(bytes.NewReader(b))
}
