package conf

import (
	"strings"
	"testing"

	"github.com/stratamail/continuity/internal/testcert"
)

// TestIMAPWithoutTLSWarns: an IMAP listener off loopback without [tls],
// where no client can log in, is valid but warned about, at the line of
// its listen element (or of [imap], or nowhere for the default).
func TestIMAPWithoutTLSWarns(t *testing.T) {
	dir := t.TempDir()
	cert, key := testcert.WritePair(t, dir, "a", "mx.test")
	withTLS := "[tls]\ncert = " + quote(cert) + "\nkey = " + quote(key) +
		"\n"
	const off = `is off loopback and there is no [tls]: no IMAP client ` +
		`can log in there (LOGINDISABLED).`
	tests := []struct {
		name, text string
		want       []string // warnings, as Warning formats them
	}{
		{"default listener", okServer, []string{
			`t.toml: imap.listen: warning: the default "0.0.0.0:143" ` +
				off}},
		{"[imap] without listen", okServer + "[imap]\n", []string{
			`t.toml:4: imap.listen: warning: the default "0.0.0.0:143" ` +
				off}},
		{"one off loopback", okServer + "[imap]\nlisten = " +
			`["127.0.0.1:143", "[2001:db8::1]:143"]` + "\n", []string{
			`t.toml:5: imap.listen[1]: warning: "[2001:db8::1]:143" ` +
				off}},
		{"one per line", okServer + "[imap]\nlisten = [\n" +
			`  "192.0.2.1:143",` + "\n" + `  "localhost:143",` + "\n" +
			`  ":1143",` + "\n]\n", []string{
			`t.toml:6: imap.listen[0]: warning: "192.0.2.1:143" ` + off,
			`t.toml:8: imap.listen[2]: warning: ":1143" ` + off}},
		{"loopback only", okServer + "[imap]\nlisten = " +
			`["127.0.0.1:143", "[::1]:143", "localhost:1143"]` + "\n",
			nil},
		{"IMAP off", okServer + "[imap]\nlisten = []\n", nil},
		{"with [tls]", okServer + withTLS, nil},
		{"insecure auth on loopback", okServer + "[imap]\nlisten = " +
			`["127.0.0.1:143"]` + "\nallow_insecure_auth = true\n", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := parse(tt.text)
			if err != nil {
				t.Fatalf("not valid: %v", err)
			}
			var got []string
			for _, w := range c.Warnings {
				got = append(got, w.(*Error).Warning())
			}
			if len(got) != len(tt.want) {
				t.Fatalf("warnings:\n%s\nwant:\n%s",
					strings.Join(got, "\n"), strings.Join(tt.want, "\n"))
			}
			for i := range got {
				if !strings.HasPrefix(got[i], tt.want[i]) {
					t.Errorf("warning %q\nwant %q...", got[i], tt.want[i])
				}
			}
		})
	}
}
