package conf

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/stratamail/continuity/internal/testcert"
)

// okOperator is a valid [[operator]] entry of three lines.
const okOperator = `[[operator]]
name = "admin"
password = "HASH"
`

func TestParsePortal(t *testing.T) {
	for _, tc := range []struct {
		name, text string
		listen     string
		public     bool
		ops        []string
		tls        bool
	}{
		{"off without the table", "", "", false, nil, false},
		{"operators without a portal", okOperator, "", false,
			[]string{"admin"}, false},
		{"default listen", "[portal]\n" + okOperator, DefaultPortalListen,
			false, []string{"admin"}, false},
		{"all set", `[portal]
listen = "[::1]:9025"
metrics_public = true
` + okOperator + `[[operator]]
name = "Night-Shift"
password = "HASH"
`, "[::1]:9025", true, []string{"admin", "Night-Shift"}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := parse(okServer + tc.text)
			if err != nil {
				t.Fatal(err)
			}
			p := c.Portal
			if p.Listen != tc.listen || p.MetricsPublic != tc.public ||
				p.Enabled() != (tc.listen != "") || p.TLS() != tc.tls {
				t.Errorf("portal = %+v", p)
			}
			var names []string
			for _, o := range p.Operators {
				names = append(names, o.Name)
				if !o.CheckPassword("change-me") {
					t.Errorf("%s: password not accepted", o.Name)
				}
			}
			if strings.Join(names, " ") != strings.Join(tc.ops, " ") {
				t.Errorf("operators %q, want %q", names, tc.ops)
			}
			for _, n := range tc.ops {
				if p.Operator(n) == nil {
					t.Errorf("Operator(%q) = nil", n)
				}
			}
			if p.Operator("nobody") != nil || p.Operator("ADMIN") != nil {
				t.Error("Operator found a name not configured")
			}
		})
	}
}

// TestPortalTLS checks that a portal off loopback is accepted with
// [tls] and then served over HTTPS.
func TestPortalTLS(t *testing.T) {
	dir := t.TempDir()
	cert, key := testcert.WritePair(t, dir, "mx", "mx.test")
	text := okServer + "[tls]\ncert = \"" + filepath.ToSlash(cert) +
		"\"\nkey = \"" + filepath.ToSlash(key) + "\"\n" +
		"[portal]\nlisten = \"0.0.0.0:8443\"\n" + okOperator
	c, err := parse(text)
	if err != nil {
		t.Fatal(err)
	}
	if !c.Portal.TLS() || c.Portal.Listen != "0.0.0.0:8443" {
		t.Errorf("portal = %+v", c.Portal)
	}
}

// brokenPortals are wrong [portal] and [[operator]] tables after
// okServer (so their lines start at 4), with the errors expected.
var brokenPortals = []struct{ name, text, want string }{
	{"no operator", "[portal]\n",
		`t.toml:4: portal: is on, but no [[operator]] may log in; add ` +
			`one with a name and a password hash from stratamail ` +
			`hash-password`},
	{"public without tls", "[portal]\nlisten = \"0.0.0.0:8025\"\n" +
		okOperator,
		`t.toml:5: portal.listen: "0.0.0.0:8025" is not on loopback, ` +
			`so the portal must be served over HTTPS: set [tls] cert ` +
			`and key`},
	{"bad listen", "[portal]\nlisten = \"localhost\"\n" + okOperator,
		`t.toml:5: portal.listen: "localhost" has no port (write ` +
			`"localhost:8025")`},
	{"listen not a string", "[portal]\nlisten = [\"127.0.0.1:1\"]\n" +
		okOperator,
		`t.toml:5: portal.listen: must be a string, not an array`},
	{"listen is smtp's", "[smtp]\nlisten = [\"127.0.0.1:2525\"]\n" +
		"[portal]\nlisten = \"127.0.0.1:2525\"\n" + okOperator,
		`t.toml:7: portal.listen: "127.0.0.1:2525" is also an SMTP ` +
			`or IMAP listener`},
	{"unknown key", "[portal]\nlsiten = \"127.0.0.1:1\"\n" + okOperator,
		`t.toml:5: portal.lsiten: unknown key (did you mean listen?)`},
	{"metrics_public not a bool",
		"[portal]\nmetrics_public = \"yes\"\n" + okOperator,
		`t.toml:5: portal.metrics_public: must be true or false, ` +
			`not a string`},
	{"portal as array", "[[portal]]\n" + okOperator,
		`t.toml:4: portal: must be one table: write [portal], not ` +
			`[[portal]]`},
	{"operator without name", "[[operator]]\npassword = \"HASH\"\n",
		`t.toml:4: operator[0].name: missing; set it to the ` +
			`operator's login name`},
	{"operator name with a space",
		"[[operator]]\nname = \"night shift\"\npassword = \"HASH\"\n",
		`t.toml:5: operator[0].name: "night shift" contains a space`},
	{"operator name too long", "[[operator]]\nname = \"" +
		strings.Repeat("a", 65) + "\"\npassword = \"HASH\"\n",
		`t.toml:5: operator[0].name: "` + strings.Repeat("a", 65) +
			`" is longer than 64 bytes`},
	{"operator twice", okOperator + okOperator,
		`t.toml:8: operator[1].name: "admin" is already given at ` +
			`operator[0].name (line 5)`},
	{"operator with a plain password",
		"[[operator]]\nname = \"admin\"\npassword = \"hunter2\"\n",
		`t.toml:6: operator[0].password: not a bcrypt or $argon2id$ ` +
			`hash (make one with stratamail hash-password)`},
	{"operator without password", "[[operator]]\nname = \"admin\"\n",
		`t.toml:4: operator[0].password: missing; set it to a hash ` +
			`made by stratamail hash-password`},
	{"operator unknown key", okOperator + "role = \"admin\"\n",
		`t.toml:7: operator[0].role: unknown key`},
}

func TestParseBrokenPortal(t *testing.T) {
	for _, tc := range brokenPortals {
		t.Run(tc.name, func(t *testing.T) {
			c, err := parse(okServer + tc.text)
			if c != nil || err == nil {
				t.Fatalf("got a config and error %v", err)
			}
			if got := err.Error(); got != tc.want {
				t.Errorf("got\n%s\nwant\n%s", got, tc.want)
			}
		})
	}
}
