package conf

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/stratamail/continuity/internal/testcert"
)

func TestTLS(t *testing.T) {
	dir := t.TempDir()
	cert, key := testcert.WritePair(t, dir, "a", "mx.test")
	_, otherKey := testcert.WritePair(t, dir, "b", "mx.test")
	missing := filepath.Join(dir, "missing.crt")
	for _, tc := range []struct {
		name, cert, key, want string
	}{
		{"a pair", cert, key, ""},
		{"no file", missing, key, "t.toml:5: tls.cert: cannot load " +
			"the pair: open " + missing + ": no such file or directory"},
		{"not a pair", cert, otherKey, "t.toml:5: tls.cert: cannot " +
			"load the pair: tls: private key does not match public key"},
		{"key for cert", key, key, "t.toml:5: tls.cert: cannot " +
			"load the pair: tls: failed to find certificate PEM data " +
			"in certificate input, but did find a private key; PEM " +
			"inputs may have been switched"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			text := okServer + "[tls]\ncert = " + quote(tc.cert) +
				"\nkey = " + quote(tc.key) + "\n"
			c, err := parse(text)
			if tc.want == "" {
				if err != nil || c.TLS.Certificate == nil ||
					c.TLS.Cert != tc.cert || c.TLS.Key != tc.key {
					t.Fatalf("got %+v, %v", c, err)
				}
				return
			}
			if err == nil || err.Error() != tc.want {
				t.Errorf("got %v\nwant %s", err, tc.want)
			}
		})
	}
}

// quote writes s as a TOML literal string.
func quote(s string) string {
	if strings.Contains(s, "'") {
		panic("quote: " + s)
	}
	return "'" + s + "'"
}

// TestIMAPTLSListen: [imap] tls_listen takes addresses for implicit
// TLS, needs [tls], and shares no address with another listener.
func TestIMAPTLSListen(t *testing.T) {
	dir := t.TempDir()
	cert, key := testcert.WritePair(t, dir, "a", "mx.test")
	withTLS := "[tls]\ncert = " + quote(cert) + "\nkey = " + quote(key) + "\n"
	for _, tc := range []struct{ name, text, want string }{
		{"ok", "[imap]\nlisten = [\"127.0.0.1:143\"]\n" +
			"tls_listen = [\"0.0.0.0:993\"]\n" + withTLS, ""},
		{"no tls", "[imap]\ntls_listen = [\"127.0.0.1:993\"]\n",
			"t.toml:5: imap.tls_listen: needs a certificate: set cert " +
				"and key in [tls]"},
		{"same as listen", "[imap]\nlisten = [\"127.0.0.1:143\"]\n" +
			"tls_listen = [\"127.0.0.1:143\"]\n" + withTLS,
			`t.toml:6: imap.tls_listen[0]: "127.0.0.1:143" is already ` +
				"used by another listener"},
		{"wildcard over listen", "[imap]\nlisten = [\"127.0.0.1:143\"]\n" +
			"tls_listen = [\"0.0.0.0:143\"]\n" + withTLS,
			`t.toml:6: imap.tls_listen[0]: "0.0.0.0:143" is already ` +
				"used by another listener"},
		{"pair that does not load", "[imap]\ntls_listen = [\"0.0.0.0:993\"]\n" +
			"[tls]\ncert = " + quote(key) + "\nkey = " + quote(key) + "\n",
			"t.toml:7: tls.cert: cannot load the pair: tls: failed to find " +
				"certificate PEM data in certificate input, but did find a " +
				"private key; PEM inputs may have been switched"},
		{"no port", "[imap]\ntls_listen = [\"127.0.0.1\"]\n" + withTLS,
			`t.toml:5: imap.tls_listen[0]: "127.0.0.1" has no port ` +
				`(write "127.0.0.1:993")`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := parse(okServer + tc.text)
			if tc.want == "" {
				if err != nil || len(c.IMAP.TLSListen) != 1 ||
					c.IMAP.TLSListen[0] != "0.0.0.0:993" {
					t.Fatalf("got %+v, %v", c, err)
				}
				return
			}
			if err == nil || err.Error() != tc.want {
				t.Errorf("got %v\nwant %s", err, tc.want)
			}
		})
	}
}

func TestOverlaps(t *testing.T) {
	for _, tc := range []struct {
		a, b string
		want bool
	}{
		{"127.0.0.1:25", "127.0.0.1:25", true},
		{"127.0.0.1:25", "127.0.0.1:26", false},
		{"0.0.0.0:25", "127.0.0.1:25", true},
		{"127.0.0.2:25", "0.0.0.0:25", true},
		{"0.0.0.0:25", "[::1]:25", false},
		{"[::]:25", "[::1]:25", true},
		{"[::]:25", "127.0.0.1:25", true},
		{":25", "10.0.0.1:25", true},
		{"localhost:25", "0.0.0.0:25", true},
		{"127.0.0.1:0", "127.0.0.1:0", false},
		{"10.0.0.1:25", "10.0.0.2:25", false},
	} {
		if got := overlaps(tc.a, tc.b); got != tc.want {
			t.Errorf("overlaps(%q, %q) = %v", tc.a, tc.b, got)
		}
	}
}
