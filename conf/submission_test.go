package conf

import (
	"testing"
	"time"
)

// brokenSubmission are [submission] and [outbound] mistakes, each with
// the exact error; the table header is on line 4.
var brokenSubmission = []struct{ name, text, want string }{
	{
		name: "insecure auth off loopback",
		text: okServer + `[submission]
listen = ["127.0.0.1:587", "0.0.0.0:1587"]
allow_insecure_auth = true
`,
		want: `t.toml:6: submission.allow_insecure_auth: true sends ` +
			`passwords in clear text, so every submission.listen ` +
			`address must be on loopback; "0.0.0.0:1587" is not`,
	},
	{
		name: "no tls and no insecure auth",
		text: okServer + "[submission]\nlisten = [\"127.0.0.1:587\"]\n",
		want: `t.toml:5: submission.listen: AUTH is offered only ` +
			`after STARTTLS: set cert and key in [tls], or ` +
			`allow_insecure_auth = true on a loopback listener`,
	},
	{
		name: "implicit tls without tls",
		text: okServer + `[submission]
tls_listen = ["127.0.0.1:465"]
`,
		want: `t.toml:5: submission.tls_listen: needs a certificate: ` +
			`set cert and key in [tls]`,
	},
	{
		name: "collides with smtp",
		text: okServer + `[smtp]
listen = ["127.0.0.1:25"]
[submission]
listen = ["127.0.0.1:25"]
allow_insecure_auth = true
`,
		want: `t.toml:7: submission.listen[0]: "127.0.0.1:25" is ` +
			`already used by another listener`,
	},
	{
		name: "listed twice",
		text: okServer + `[submission]
listen = ["127.0.0.1:587", "127.0.0.1:587"]
allow_insecure_auth = true
`,
		want: `t.toml:5: submission.listen[1]: "127.0.0.1:587" is ` +
			`listed twice`,
	},
	{
		name: "bad cap",
		text: okServer + "[submission]\nmax_messages_per_hour = 0\n",
		want: `t.toml:5: submission.max_messages_per_hour: 0 must ` +
			`be from 1 to 1000000`,
	},
	{
		name: "unknown key",
		text: okServer + "[submission]\ntls_lisen = []\n",
		want: `t.toml:5: submission.tls_lisen: unknown key (did ` +
			`you mean tls_listen?)`,
	},
	{
		name: "smarthost without port",
		text: okServer + "[outbound]\nsmarthost = \"smtp.test\"\n",
		want: `t.toml:5: outbound.smarthost: "smtp.test" has no ` +
			`port (write "smtp.test:587")`,
	},
	{
		name: "smarthost is our own submission listener",
		text: okServer + `[submission]
listen = ["127.0.0.1:587"]
allow_insecure_auth = true
[outbound]
smarthost = "127.0.0.1:587"
`,
		want: `t.toml:8: outbound.smarthost: "127.0.0.1:587" is this ` +
			`server's own listener; mail would loop back here`,
	},
	{
		name: "username without password",
		text: okServer + `[outbound]
smarthost = "smtp.test:587"
username = "u"
`,
		want: `t.toml:4: outbound.password: missing; username is ` +
			`set, so password must be too`,
	},
	{
		name: "login without smarthost",
		text: okServer + `[outbound]
username = "u"
password = "p"
`,
		want: `t.toml:5: outbound.username: needs a smarthost: a ` +
			`login is only used there`,
	},
	{
		name: "require tls without smarthost",
		text: okServer + "[outbound]\nrequire_tls = true\n",
		want: `t.toml:5: outbound.require_tls: needs a smarthost: ` +
			`MX delivery uses opportunistic TLS`,
	},
	{
		name: "lifetime bare number",
		text: okServer + "[outbound]\nqueue_lifetime = 5\n",
		want: `t.toml:5: outbound.queue_lifetime: 5 is a bare ` +
			`number; use a string like "5m"`,
	},
}

func TestParseBrokenSubmission(t *testing.T) {
	for _, tc := range brokenSubmission {
		t.Run(tc.name, func(t *testing.T) {
			c, err := parse(tc.text)
			if err == nil {
				t.Fatalf("parsed: %+v", c.Submission)
			}
			if err.Error() != tc.want {
				t.Errorf("got  %s\nwant %s", err, tc.want)
			}
		})
	}
}

func TestParseSubmission(t *testing.T) {
	c, err := parse(okDomains + `[[user]]
address = "ann@example.com"
password = "HASH"
aliases = ["sales@example.com"]
[submission]
listen = ["127.0.0.1:1587"]
allow_insecure_auth = true
max_messages_per_hour = 7
[outbound]
smarthost = "smtp.test:587"
username = "u"
password = "p"
require_tls = true
queue_lifetime = "2h"
`)
	if err != nil {
		t.Fatal(err)
	}
	s := c.Submission
	if !s.Enabled() || s.Listen[0] != "127.0.0.1:1587" ||
		!s.AllowInsecureAuth || s.MaxMessagesPerHour != 7 {
		t.Errorf("submission = %+v", s)
	}
	want := Outbound{Smarthost: "smtp.test:587", Username: "u",
		Password: "p", RequireTLS: true, QueueLifetime: 2 * time.Hour}
	if c.Outbound != want {
		t.Errorf("outbound = %+v, want %+v", c.Outbound, want)
	}
	u := c.User("ann@example.com")
	for addr, ok := range map[string]bool{"Ann@Example.com": true,
		"sales@example.com": true, "bob@example.com": false} {
		if u.Owns(addr) != ok {
			t.Errorf("Owns(%q) = %v", addr, !ok)
		}
	}
}

func TestSubmissionDefaults(t *testing.T) {
	c, err := parse(okServer)
	if err != nil {
		t.Fatal(err)
	}
	if c.Submission.Enabled() || c.Submission.MaxMessagesPerHour !=
		DefaultMaxMessagesPerHour {
		t.Errorf("submission = %+v", c.Submission)
	}
	if c.Outbound.QueueLifetime != DefaultQueueLifetime ||
		c.Outbound.Smarthost != "" {
		t.Errorf("outbound = %+v", c.Outbound)
	}
}
