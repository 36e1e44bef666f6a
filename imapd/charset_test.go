package imapd

import (
	"testing"

	"github.com/emersion/go-message/textproto"
)

// TestHeaderHasCharsets checks that SEARCH finds words in encoded headers
// whatever their charset, case-insensitively.
func TestHeaderHasCharsets(t *testing.T) {
	tests := []struct {
		name, subject, word string
		want                bool
	}{
		{"koi8-r", "=?KOI8-R?B?8NLJ18XUIM3J0g==?=", "привет", true},
		{"koi8-r upper", "=?KOI8-R?B?8NLJ18XUIM3J0g==?=", "МИР", true},
		{"latin1", "=?ISO-8859-1?Q?Gr=FC=DFe?=", "grüße", true},
		{"utf-8", "=?UTF-8?Q?caf=C3=A9?=", "CAFÉ", true},
		{"absent", "=?KOI8-R?B?8NLJ18XUIM3J0g==?=", "пока", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var h textproto.Header
			h.Set("Subject", tt.subject)
			if got := headerHas(h, "Subject", tt.word); got != tt.want {
				t.Errorf("headerHas(%q, %q) = %v", tt.subject, tt.word,
					got)
			}
		})
	}
}
