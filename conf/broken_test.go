package conf

// brokenConfigs are configurations with mistakes, each with the exact
// errors expected. The cases after okServer have their own lines from
// 4, after okDomains from 12; HASH stands for a valid hash.
var brokenConfigs = []struct{ name, text, want string }{
	{
		name: "syntax error",
		text: okServer + "max_recipients = \n",
		want: `t.toml:4: syntax error: expected value but found ` +
			`'\n' instead`,
	},
	{
		name: "syntax error in a string",
		text: okServer + "hostname = \"mx\n",
		want: `t.toml:4: syntax error: strings cannot contain ` +
			`newlines`,
	},
	{
		name: "duplicate key",
		text: okServer + "data_dir = \"/x\"\n",
		want: `t.toml:4: syntax error: Key 'server.data_dir' has ` +
			`already been defined.`,
	},
	{
		name: "unknown top-level key",
		text: "listen = [\"0.0.0.0:25\"]\n" + okServer,
		want: `t.toml:1: listen: unknown key (listen belongs under ` +
			`[imap] or [portal] or [smtp] or [submission])`,
	},
	{
		name: "unknown table",
		text: okServer + "[serve]\n",
		want: `t.toml:4: serve: unknown key (did you mean server?)`,
	},
	{
		name: "unknown key in server",
		text: okServer + "max_message_szie = \"1MiB\"\n",
		want: `t.toml:4: server.max_message_szie: unknown key (did ` +
			`you mean max_message_size?)`,
	},
	{
		name: "unknown key of other case",
		text: okServer + "Data_Dir = \"/x\"\n",
		want: `t.toml:4: server.Data_Dir: unknown key (did you ` +
			`mean data_dir?)`,
	},
	{
		name: "unknown key in domain",
		text: okServer + `[[domain]]
name = "example.com"
mode = "local"
mdoe = "both"
`,
		want: `t.toml:7: domain[0].mdoe: unknown key (did you mean ` +
			`mode?)`,
	},
	{
		name: "unknown key in user",
		text: okDomains + `[[user]]
address = "a@example.com"
password = "HASH"
alias = ["b@example.com"]
`,
		want: `t.toml:15: user[0].alias: unknown key (did you mean ` +
			`aliases?)`,
	},
	{
		name: "unknown key in inline table",
		text: "tls = {cert = \"\", kye = \"\"}\n" + okServer,
		want: `t.toml:1: tls.kye: unknown key (did you mean key?)`,
	},
	{
		name: "server table twice",
		text: `[[server]]
data_dir = "/x"
`,
		want: `t.toml:1: server: must be one table: write ` +
			`[server], not [[server]]`,
	},
	{
		name: "domain not an array",
		text: okServer + `[domain]
name = "example.com"
`,
		want: `t.toml:4: domain: must be an array of tables: write ` +
			`[[domain]]`,
	},
	{
		name: "bad mode",
		text: okServer + `[[domain]]
name = "example.com"
mode = "bothh"
relay = "mx.example.com:25"
`,
		want: `t.toml:6: domain[0].mode: "bothh" is not one of ` +
			`both, relay, local`,
	},
	{
		name: "missing mode",
		text: okServer + `[[domain]]
name = "example.com"
`,
		want: `t.toml:4: domain[0].mode: missing; set it to both, ` +
			`relay or local`,
	},
	{
		name: "relay without port",
		text: okServer + `[[domain]]
name = "example.com"
mode = "relay"
relay = "mail.example.com"
`,
		want: `t.toml:7: domain[0].relay: "mail.example.com" has ` +
			`no port (write "mail.example.com:25")`,
	},
	{
		name: "relay bad port",
		text: okServer + `[[domain]]
name = "example.com"
mode = "relay"
relay = "mail.example.com:smtp"
`,
		want: `t.toml:7: domain[0].relay: "mail.example.com:smtp": ` +
			`port "smtp" is not a number from 1 to 65535`,
	},
	{
		name: "relay port 0",
		text: okServer + `[[domain]]
name = "example.com"
mode = "relay"
relay = "mail.example.com:0"
`,
		want: `t.toml:7: domain[0].relay: "mail.example.com:0": ` +
			`port "0" is not a number from 1 to 65535`,
	},
	{
		name: "relay bad host",
		text: okServer + `[[domain]]
name = "example.com"
mode = "relay"
relay = "mail_1.example.com:25"
`,
		want: `t.toml:7: domain[0].relay: "mail_1.example.com:25": ` +
			`"mail_1.example.com" is neither a host name nor an IP ` +
			`address`,
	},
	{
		name: "relay missing",
		text: okServer + `[[domain]]
name = "example.com"
mode = "both"
`,
		want: `t.toml:4: domain[0].relay: missing; mode both needs ` +
			`the primary's host:port`,
	},
	{
		name: "monitor without relay",
		text: okServer + `[[domain]]
name = "example.com"
mode = "local"
monitor = true
`,
		want: `t.toml:7: domain[0].monitor: true needs a relay ` +
			`host to probe; set relay`,
	},
	{
		name: "monitor not a boolean",
		text: okServer + `[[domain]]
name = "example.com"
mode = "local"
monitor = "yes"
`,
		want: `t.toml:7: domain[0].monitor: must be true or false, ` +
			`not a string`,
	},
	{
		name: "domain twice",
		text: okDomains + `[[domain]]
name = "Example.COM"
mode = "local"
`,
		want: `t.toml:13: domain[2].name: "example.com" is already ` +
			`given at domain[0].name (line 5)`,
	},
	{
		name: "domain trailing dot",
		text: okServer + `[[domain]]
name = "example.com."
mode = "local"
`,
		want: `t.toml:5: domain[0].name: "example.com." ends with ` +
			`a dot; write it without one`,
	},
	{
		name: "domain bad name",
		text: okServer + `[[domain]]
name = "exa mple.com"
mode = "local"
`,
		want: `t.toml:5: domain[0].name: "exa mple.com" is not a ` +
			`domain name: ' ' is not allowed`,
	},
	{
		name: "domain unicode name",
		text: okServer + `[[domain]]
name = "bücher.example"
mode = "local"
`,
		want: `t.toml:5: domain[0].name: "bücher.example" is not a ` +
			`domain name: write an international name in its ASCII xn-- ` +
			`form`,
	},
	{
		name: "missing domain name",
		text: okServer + `[[domain]]
mode = "local"
`,
		want: `t.toml:4: domain[0].name: missing; set it to the ` +
			`customer's domain`,
	},
	{
		name: "empty domain name",
		text: okServer + `[[domain]]
name = ""
mode = "local"
`,
		want: `t.toml:5: domain[0].name: is empty; set it to the ` +
			`customer's domain`,
	},
	{
		name: "user in unknown domain",
		text: okDomains + `[[user]]
address = "a@example.net"
password = "HASH"
`,
		want: `t.toml:13: user[0].address: domain "example.net" is ` +
			`not configured in any [[domain]]`,
	},
	{
		name: "user in relay domain",
		text: okDomains + `[[user]]
address = "a@relay.test"
password = "HASH"
`,
		want: `t.toml:13: user[0].address: domain "relay.test" has ` +
			`mode relay, which keeps no mailboxes; make it both or local`,
	},
	{
		name: "alias in relay domain",
		text: okDomains + `[[user]]
address = "a@example.com"
password = "HASH"
aliases = ["b@relay.test"]
`,
		want: `t.toml:15: user[0].aliases[0]: domain "relay.test" ` +
			`has mode relay, which keeps no mailboxes; make it both or ` +
			`local`,
	},
	{
		name: "user twice",
		text: okDomains + `[[user]]
address = "a@example.com"
password = "HASH"
[[user]]
address = "A@example.com"
password = "HASH"
`,
		want: `t.toml:16: user[1].address: "a@example.com" is ` +
			`already given at user[0].address (line 13)`,
	},
	{
		name: "alias is another's address",
		text: okDomains + `[[user]]
address = "a@example.com"
password = "HASH"
[[user]]
address = "b@example.com"
password = "HASH"
aliases = ["A@Example.com"]
`,
		want: `t.toml:18: user[1].aliases[0]: "a@example.com" is ` +
			`already given at user[0].address (line 13)`,
	},
	{
		name: "alias is another's alias",
		text: okDomains + `[[user]]
address = "a@example.com"
password = "HASH"
aliases = ["sales@example.com"]
[[user]]
address = "b@example.com"
password = "HASH"
aliases = ["sales@example.com"]
`,
		want: `t.toml:19: user[1].aliases[0]: "sales@example.com" ` +
			`is already given at user[0].aliases[0] (line 15)`,
	},
	{
		name: "alias is own address",
		text: okDomains + `[[user]]
address = "a@example.com"
password = "HASH"
aliases = ["a@example.com"]
`,
		want: `t.toml:15: user[0].aliases[0]: "a@example.com" is ` +
			`already given at user[0].address (line 13)`,
	},
	{
		name: "address before alias",
		text: okDomains + `[[user]]
address = "a@example.com"
password = "HASH"
aliases = ["b@example.com"]
[[user]]
address = "b@example.com"
password = "HASH"
`,
		want: `t.toml:17: user[1].address: "b@example.com" is ` +
			`already given at user[0].aliases[0] (line 15)`,
	},
	{
		name: "bad duration",
		text: okServer + "retry_interval = \"5 minutes\"\n",
		want: `t.toml:4: server.retry_interval: "5 minutes" is not ` +
			`a duration like "5m", "30s", "1h30m" or "5d"`,
	},
	{
		name: "bare integer duration",
		text: okServer + "probe_interval = 30\n",
		want: `t.toml:4: server.probe_interval: 30 is a bare ` +
			`number; use a string like "5m"`,
	},
	{
		name: "negative duration",
		text: okServer + "retry_interval = \"-5m\"\n",
		want: `t.toml:4: server.retry_interval: "-5m" must be more ` +
			`than 0`,
	},
	{
		name: "bad size",
		text: okServer + "max_message_size = \"25MB of mail\"\n",
		want: `t.toml:4: server.max_message_size: "25MB of mail" ` +
			`is not a size like "25MiB" (units: B, KB, KiB, MB, MiB, GB, ` +
			`GiB)`,
	},
	{
		name: "zero size",
		text: okServer + "max_message_size = 0\n",
		want: `t.toml:4: server.max_message_size: 0 must be more ` +
			`than 0`,
	},
	{
		name: "size as float",
		text: okServer + "max_message_size = 2.5\n",
		want: `t.toml:4: server.max_message_size: must be a size ` +
			`like "25MiB", not a float`,
	},
	{
		name: "bad max_recipients",
		text: okServer + "max_recipients = 0\n",
		want: `t.toml:4: server.max_recipients: 0 must be from 1 ` +
			`to 2147483647`,
	},
	{
		name: "missing data_dir",
		text: `[server]
hostname = "mx.test"
`,
		want: `t.toml:1: server.data_dir: missing; set it to the ` +
			`directory for the shadow mailboxes and the queue`,
	},
	{
		name: "missing server",
		text: `[smtp]
listen = ["127.0.0.1:25"]
`,
		want: `t.toml: server.data_dir: missing; set it to the ` +
			`directory for the shadow mailboxes and the queue`,
	},
	{
		name: "empty data_dir",
		text: `[server]
data_dir = ""
`,
		want: `t.toml:2: server.data_dir: is empty; set it to the ` +
			`directory for the shadow mailboxes and the queue`,
	},
	{
		name: "bad hostname",
		text: `[server]
data_dir = "/x"
hostname = "mx.test."
`,
		want: `t.toml:3: server.hostname: "mx.test." ends with a ` +
			`dot; write it without one`,
	},
	{
		name: "control character",
		text: `[server]
data_dir = "/x\u0000y"
`,
		want: `t.toml:2: server.data_dir: "/x\x00y" contains a ` +
			`control character`,
	},
	{
		name: "address without @",
		text: okDomains + `[[user]]
address = "alice"
password = "HASH"
`,
		want: `t.toml:13: user[0].address: "alice" is not an ` +
			`address like local@domain`,
	},
	{
		name: "address with space",
		text: okDomains + `[[user]]
address = "al ice@example.com"
password = "HASH"
`,
		want: `t.toml:13: user[0].address: "al ice@example.com": ` +
			`the local part may not contain ' '`,
	},
	{
		name: "address with slash",
		text: okDomains + `[[user]]
address = "a/b@example.com"
password = "HASH"
`,
		want: `t.toml:13: user[0].address: "a/b@example.com": the ` +
			`local part may not contain '/'`,
	},
	{
		name: "address dot",
		text: okDomains + `[[user]]
address = "..@example.com"
password = "HASH"
`,
		want: `t.toml:13: user[0].address: "..@example.com": the ` +
			`local part may not be . or ..`,
	},
	{
		name: "address empty local",
		text: okDomains + `[[user]]
address = "@example.com"
password = "HASH"
`,
		want: `t.toml:13: user[0].address: "@example.com": the ` +
			`local part is empty`,
	},
	{
		name: "address two @",
		text: okDomains + `[[user]]
address = "a@b@example.com"
password = "HASH"
`,
		want: `t.toml:13: user[0].address: "a@b@example.com": the ` +
			`local part may not contain '@'`,
	},
	{
		name: "address bad domain",
		text: okDomains + `[[user]]
address = "a@example.com."
password = "HASH"
`,
		want: `t.toml:13: user[0].address: "a@example.com.": ` +
			`domain "example.com." ends with a dot; write it without one`,
	},
	{
		name: "alias malformed",
		text: okDomains + `[[user]]
address = "a@example.com"
password = "HASH"
aliases = ["ok@example.com",
  "b c@example.com"]
`,
		want: `t.toml:16: user[0].aliases[1]: "b c@example.com": ` +
			`the local part may not contain ' '`,
	},
	{
		name: "aliases not an array",
		text: okDomains + `[[user]]
address = "a@example.com"
password = "HASH"
aliases = "b@example.com"
`,
		want: `t.toml:15: user[0].aliases: must be an array of ` +
			`strings, not a string (write ["b@example.com"])`,
	},
	{
		name: "missing address",
		text: okDomains + `[[user]]
password = "HASH"
`,
		want: `t.toml:12: user[0].address: missing; set it to the ` +
			`user's address, local@domain`,
	},
	{
		name: "bad password hash",
		text: okDomains + `[[user]]
address = "a@example.com"
password = "$2a$10$short"
`,
		want: `t.toml:14: user[0].password: not a bcrypt or ` +
			`$argon2id$ hash (make one with stratamail hash-password)`,
	},
	{
		name: "bad argon2id hash",
		text: okDomains + `[[user]]
address = "a@example.com"
password = "$argon2id$v=19$m=0,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA"
`,
		want: `t.toml:14: user[0].password: bad argon2id parameters`,
	},
	{
		name: "missing password",
		text: okDomains + `[[user]]
address = "a@example.com"
`,
		want: `t.toml:12: user[0].password: missing; set it to a ` +
			`hash made by stratamail hash-password`,
	},
	{
		name: "listen without port",
		text: okServer + `[smtp]
listen = ["0.0.0.0"]
`,
		want: `t.toml:5: smtp.listen[0]: "0.0.0.0" has no port ` +
			`(write "0.0.0.0:25")`,
	},
	{
		name: "listen ipv6 without port",
		text: okServer + `[imap]
listen = ["::1"]
`,
		want: `t.toml:5: imap.listen[0]: "::1" has no port (an ` +
			`IPv6 address goes in brackets: "[::1]:143")`,
	},
	{
		name: "listen ipv6 without brackets",
		text: okServer + `[imap]
listen = ["::1:143"]
`,
		want: `t.toml:5: imap.listen[0]: "::1:143" has no port (an ` +
			`IPv6 address goes in brackets: "[::1:143]:143")`,
	},
	{
		name: "listen a string",
		text: okServer + `[smtp]
listen = "0.0.0.0:25"
`,
		want: `t.toml:5: smtp.listen: must be an array of strings, ` +
			`not a string (write ["0.0.0.0:25"])`,
	},
	{
		name: "listen empty",
		text: okServer + `[smtp]
listen = []
`,
		want: `t.toml:5: smtp.listen: is empty; a backup MX must ` +
			`accept SMTP`,
	},
	{
		name: "listen twice",
		text: okServer + `[smtp]
listen = ["127.0.0.1:25", "127.0.0.1:25"]
`,
		want: `t.toml:5: smtp.listen[1]: "127.0.0.1:25" is listed ` +
			`twice`,
	},
	{
		name: "listen shared",
		text: okServer + `[smtp]
listen = ["127.0.0.1:25"]
[imap]
listen = ["127.0.0.1:25"]
`,
		want: `t.toml:7: imap.listen[0]: "127.0.0.1:25" is also in ` +
			`smtp.listen`,
	},
	{
		name: "insecure auth not loopback",
		text: okServer + `[imap]
listen = ["127.0.0.1:143", "0.0.0.0:1143"]
allow_insecure_auth = true
`,
		want: `t.toml:6: imap.allow_insecure_auth: true sends ` +
			`passwords in clear text, so every imap.listen address must ` +
			`be on loopback; "0.0.0.0:1143" is not`,
	},
	{
		name: "insecure auth default listen",
		text: okServer + `[imap]
allow_insecure_auth = true
`,
		want: `t.toml:5: imap.allow_insecure_auth: true sends ` +
			`passwords in clear text, so every imap.listen address must ` +
			`be on loopback; "0.0.0.0:143" is not`,
	},
	{
		name: "insecure auth all interfaces",
		text: okServer + `[imap]
listen = [":143"]
allow_insecure_auth = true
`,
		want: `t.toml:6: imap.allow_insecure_auth: true sends ` +
			`passwords in clear text, so every imap.listen address must ` +
			`be on loopback; ":143" is not`,
	},
	{
		name: "tls cert without key",
		text: okServer + `[tls]
cert = "/etc/cert.pem"
`,
		want: `t.toml:4: tls.key: missing; cert is set, so key ` +
			`must be too`,
	},
	{
		name: "tls key without cert",
		text: okServer + `[tls]
cert = ""
key = "/etc/key.pem"
`,
		want: `t.toml:5: tls.cert: missing; key is set, so cert ` +
			`must be too`,
	},
	{
		name: "many errors",
		text: `[server]
retry_interval = 5
[[domain]]
name = "x.test"
mode = "relay"
[[user]]
address = "a@x.test"
password = "HASH"
[smtp]
listen = ["0.0.0.0"]
`,
		want: `t.toml:1: server.data_dir: missing; set it to the ` +
			"directory for the shadow mailboxes and the queue\n" +
			`t.toml:2: server.retry_interval: 5 is a bare number; use a ` +
			"string like \"5m\"\n" +
			`t.toml:3: domain[0].relay: missing; mode relay needs the ` +
			"primary's host:port\n" +
			`t.toml:7: user[0].address: domain "x.test" has mode relay, ` +
			"which keeps no mailboxes; make it both or local\n" +
			`t.toml:10: smtp.listen[0]: "0.0.0.0" has no port (write ` +
			`"0.0.0.0:25")`,
	},
	{
		name: "smtp not a table",
		text: "smtp = 5\n" + okServer,
		want: `t.toml:1: smtp: must be a table, not an integer: ` +
			`write [smtp]`,
	},
	{
		name: "user not a table",
		text: "user = [5]\n" + okDomains,
		want: `t.toml:1: user[0]: must be a table, not an integer`,
	},
	{
		name: "subtable of server",
		text: okServer + `[server.extra]
x = 1
`,
		want: `t.toml:4: server.extra: unknown key`,
	},
	{
		name: "inline domain",
		text: "domain = [{name = \"a.test\", mode = \"x\"}]\n" + okServer,
		want: `t.toml:1: domain[0].mode: "x" is not one of both, ` +
			`relay, local`,
	},
	{
		name: "max_recipients a string",
		text: okServer + "max_recipients = \"10\"\n",
		want: `t.toml:4: server.max_recipients: must be an ` +
			`integer, not a string`,
	},
	{
		name: "hostname not a string",
		text: `[server]
data_dir = "/x"
hostname = true
`,
		want: `t.toml:3: server.hostname: must be a string, not a ` +
			`boolean`,
	},
	{
		name: "alias not a string",
		text: okDomains + `[[user]]
address = "a@example.com"
password = "HASH"
aliases = ["b@example.com", 5]
`,
		want: `t.toml:15: user[0].aliases[1]: must be a string, ` +
			`not an integer`,
	},
	{
		name: "tls key not a string",
		text: okServer + `[tls]
cert = "/c.pem"
key = 5
`,
		want: `t.toml:6: tls.key: must be a string, not an integer`,
	},
	{
		name: "empty user",
		text: okDomains + "[[user]]\n",
		want: `t.toml:12: user[0].address: missing; set it to the ` +
			"user's address, local@domain\n" +
			`t.toml:12: user[0].password: missing; set it to a hash made ` +
			`by stratamail hash-password`,
	},
	{
		name: "accept_from entries that are not networks",
		text: okServer + `[smtp]
accept_from = ["192.0.2.0/24", "192.0.2.1/24", "mx.filter.test",
  "2001:db8::/129", "fe80::1%eth0", "::ffff:192.0.2.0/120"]
`,
		want: `t.toml:5: smtp.accept_from[1]: "192.0.2.1/24" is not an ` +
			`address or a network such as 192.0.2.0/24 or 2001:db8::/32
t.toml:5: smtp.accept_from[2]: "mx.filter.test" is not an address or ` +
			`a network such as 192.0.2.0/24 or 2001:db8::/32
t.toml:6: smtp.accept_from[3]: "2001:db8::/129" is not an address or ` +
			`a network such as 192.0.2.0/24 or 2001:db8::/32
t.toml:6: smtp.accept_from[4]: "fe80::1%eth0" is not an address or ` +
			`a network such as 192.0.2.0/24 or 2001:db8::/32
t.toml:6: smtp.accept_from[5]: "::ffff:192.0.2.0/120" is not an ` +
			`address or a network such as 192.0.2.0/24 or 2001:db8::/32`,
	},
	{
		name: "domain accept_from not an array",
		text: okServer + `[[domain]]
name = "example.com"
mode = "local"
accept_from = "192.0.2.0/24"
`,
		want: `t.toml:7: domain[0].accept_from: must be an array of ` +
			`strings, not a string (write ["192.0.2.0/24"])`,
	},
	{
		name: "down_after zero",
		text: okServer + "[monitor]\ndown_after = 0\n",
		want: `t.toml:5: monitor.down_after: 0 must be from 1 to 100`,
	},
	{
		name: "up_after too large",
		text: okServer + "[monitor]\nup_after = 101\n",
		want: `t.toml:5: monitor.up_after: 101 must be from 1 to 100`,
	},
	{
		name: "down_after a string",
		text: okServer + "[monitor]\ndown_after = \"3\"\n",
		want: `t.toml:5: monitor.down_after: must be an integer, ` +
			`not a string`,
	},
	{
		name: "unknown key in monitor",
		text: okServer + "[monitor]\ndown_afer = 3\n",
		want: `t.toml:5: monitor.down_afer: unknown key (did you ` +
			`mean down_after?)`,
	},
	{
		name: "top-level webhook",
		text: "webhook = \"https://x.test/\"\n" + okServer,
		want: `t.toml:1: webhook: unknown key (webhook belongs ` +
			`under [alerts])`,
	},
	{
		name: "alert email not an address",
		text: okServer + `[alerts]
email = ["ops@example.net", "ops"]
`,
		want: `t.toml:5: alerts.email[1]: "ops" is not an address ` +
			`like local@domain`,
	},
	{
		name: "alert email a string",
		text: okServer + "[alerts]\nemail = \"ops@example.net\"\n",
		want: `t.toml:5: alerts.email: must be an array of strings, ` +
			`not a string (write ["ops@example.net"])`,
	},
	{
		name: "alert from bad domain",
		text: okServer + "[alerts]\nfrom = \"sm@exa mple.net\"\n",
		want: `t.toml:5: alerts.from: "sm@exa mple.net": domain ` +
			`"exa mple.net" is not a domain name: ' ' is not allowed`,
	},
	{
		name: "webhook not http",
		text: okServer + "[alerts]\nwebhook = \"ftp://x.test/a\"\n",
		want: `t.toml:5: alerts.webhook: must start with https:// ` +
			`or http://`,
	},
	{
		name: "webhook without host",
		text: okServer + "[alerts]\nwebhook = \"https:///hook\"\n",
		want: `t.toml:5: alerts.webhook: has no host; write ` +
			`https://host/path`,
	},
	{
		name: "webhook not a URL",
		text: okServer + "[alerts]\nwebhook = \"https://x.test:%zz\"\n",
		want: `t.toml:5: alerts.webhook: is not a URL`,
	},
	{
		name: "webhook bad port",
		text: okServer + "[alerts]\nwebhook = \"http://x.test:0/\"\n",
		want: `t.toml:5: alerts.webhook: has a port that is not a ` +
			`number from 1 to 65535`,
	},
	{
		name: "webhook relative",
		text: okServer + "[alerts]\nwebhook = \"sms.test/hook\"\n",
		want: `t.toml:5: alerts.webhook: must start with https:// ` +
			`or http://`,
	},
	{
		name: "alerts twice",
		text: okServer + "[[alerts]]\nemail = []\n",
		want: `t.toml:4: alerts: must be one table: write ` +
			`[alerts], not [[alerts]]`,
	},
	{
		name: "relay_connections out of range",
		text: okServer + "relay_connections = 0\n",
		want: `t.toml:4: server.relay_connections: 0 must be from 1 to 64`,
	},
	{
		name: "intervals too short, message size too small",
		text: okServer + "retry_interval = \"1ns\"\nprobe_interval = " +
			"\"10ms\"\nmax_message_size = \"1B\"\n",
		want: `t.toml:4: server.retry_interval: 1ns is too short: ` +
			`at least 100ms
t.toml:5: server.probe_interval: 10ms is too short: at least 100ms
t.toml:6: server.max_message_size: 1 bytes is too small for any ` +
			`message: at least 512`,
	},
	{
		name: "relative data_dir",
		text: "[server]\nhostname = \"mx.test\"\ndata_dir = \"var/sm\"\n",
		want: `t.toml:3: server.data_dir: "var/sm" must be an ` +
			`absolute path`,
	},
	{
		name: "postmaster elsewhere",
		text: okServer + "postmaster = \"ops@other.test\"\n" +
			"[[domain]]\nname = \"example.com\"\nmode = \"local\"\n",
		want: `t.toml:4: server.postmaster: "ops@other.test" is not ` +
			`in one of the [[domain]] entries; mail to postmaster must ` +
			`stay with this server`,
	},
	{
		name: "postmaster not a user",
		text: okServer + "postmaster = \"ops@example.com\"\n" +
			"[[domain]]\nname = \"example.com\"\nmode = \"local\"\n",
		want: `t.toml:4: server.postmaster: "ops@example.com" is no ` +
			`[[user]]'s address or alias`,
	},
}
