package relayq

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"github.com/stratamail/continuity/conf"
	"github.com/stratamail/continuity/store"
)

// outboundConfig has one user, alice, whose shadow INBOX takes DSNs;
// %s is the data folder, then the [outbound] table's lines.
const outboundConfig = `[server]
hostname = "mx.test.invalid"
data_dir = %q
retry_interval = "5m"
[[domain]]
name = "example.test"
mode = "local"
[[user]]
address = "alice@example.test"
password = "$2a$10$uE3yfuc5lzp8GUepz9XUTeNB6VH1TPlVTOlFivvyBaDI8KA.S.Z4y"
[outbound]
%s
`

// outEnv is a queue with a store, for the outbound route.
type outEnv struct {
	*env
	store *store.Store
	data  string
}

// newOutEnv opens a queue whose [outbound] table is table, resolving
// MX hosts with res and reaching them on port.
func newOutEnv(t *testing.T, table string, res Resolver,
	port string) *outEnv {
	t.Helper()
	data := t.TempDir()
	st, err := store.Open(data)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := conf.Parse("t.toml", []byte(fmt.Sprintf(outboundConfig,
		data, table)))
	if err != nil {
		t.Fatal(err)
	}
	clock := newFakeClock()
	e := &env{t: t, spool: st.SpoolDir(),
		qdir: filepath.Join(data, "queue"), clock: clock}
	e.cfg.Store(cfg)
	e.q, err = Open(e.qdir, Options{
		Config: e.cfg.Load, Logger: testLogger(t), Clock: clock,
		DialTimeout: 2 * time.Second, CommandTimeout: 5 * time.Second,
		DataTimeout: 5 * time.Second, Store: st, Resolver: res,
		MXPort: port,
	})
	if err != nil {
		t.Fatal(err)
	}
	return &outEnv{env: e, store: st, data: data}
}

// send queues body from alice on the outbound route to rcpts in domain.
func (e *outEnv) send(domain, from string, rcpts ...string) string {
	e.t.Helper()
	id, err := e.q.EnqueueOutbound(e.spoolFile(testOutBody), domain,
		from, rcpts)
	if err != nil {
		e.t.Fatal(err)
	}
	return id
}

const testOutBody = "From: Alice <alice@example.test>\r\n" +
	"To: <bob@elsewhere.test>\r\n" +
	"Subject: the quarterly figures\r\n" +
	"\r\n" +
	"Attached.\r\n"

// inbox returns the messages in alice's INBOX new/.
func (e *outEnv) inbox() []string {
	dir := filepath.Join(e.data, "mail", "example.test", "alice", "new")
	ents, _ := os.ReadDir(dir)
	var out []string
	for _, d := range ents {
		b, err := os.ReadFile(filepath.Join(dir, d.Name()))
		if err != nil {
			e.t.Fatal(err)
		}
		out = append(out, string(b))
	}
	return out
}

func TestSmarthostDefersThenDelivers(t *testing.T) {
	p := startPrimary(t, "127.0.0.1:0", nil)
	p.setRefuse("bob@elsewhere.test", &smtp.SMTPError{Code: 451,
		EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "busy"})
	e := newOutEnv(t, fmt.Sprintf("smarthost = %q", p.addr), nil, "")
	id := e.send("elsewhere.test", "alice@example.test",
		"bob@elsewhere.test")
	e.run()
	waitFor(t, "the deferral", func() bool {
		x, ok := e.entry(id)
		return ok && x.Attempts == 1
	})
	x, _ := e.entry(id)
	if x.Route != "outbound" || !strings.HasPrefix(x.LastError, "451") {
		t.Fatalf("after the 451: %+v", x)
	}
	p.setRefuse("bob@elsewhere.test", nil)
	e.clock.(*fakeClock).Advance(5 * time.Minute)
	waitFor(t, "an empty queue", e.queueEmpty)
	got := p.received()
	if len(got) != 1 || got[0].from != "alice@example.test" ||
		!slices.Equal(got[0].to, []string{"bob@elsewhere.test"}) ||
		string(got[0].data) != testOutBody {
		t.Errorf("smarthost got %+v", got)
	}
	if n := len(e.inbox()); n != 0 {
		t.Errorf("%d DSNs for a delivered message", n)
	}
}

func TestSmarthostRefusesDSN(t *testing.T) {
	p := startPrimary(t, "127.0.0.1:0", nil)
	p.setRefuse("nobody@elsewhere.test", &smtp.SMTPError{Code: 550,
		EnhancedCode: smtp.EnhancedCode{5, 1, 1},
		Message:      "no such user"})
	e := newOutEnv(t, fmt.Sprintf("smarthost = %q", p.addr), nil, "")
	e.send("elsewhere.test", "alice@example.test",
		"nobody@elsewhere.test", "bob@elsewhere.test")
	e.run()
	waitFor(t, "an empty queue", e.queueEmpty)
	if got := p.received(); len(got) != 1 ||
		!slices.Equal(got[0].to, []string{"bob@elsewhere.test"}) {
		t.Errorf("smarthost got %+v", got)
	}
	inbox := e.inbox()
	if len(inbox) != 1 {
		t.Fatalf("%d messages in the INBOX, want the DSN", len(inbox))
	}
	dsn := inbox[0]
	for _, want := range []string{
		"Content-Type: multipart/report; report-type=delivery-status;",
		"To: <alice@example.test>\r\n",
		"Content-Type: message/delivery-status\r\n",
		"Reporting-MTA: dns; mx.test.invalid\r\n",
		"Final-Recipient: rfc822; nobody@elsewhere.test\r\n",
		"Action: failed\r\n",
		"Status: 5.1.1\r\n",
		"Diagnostic-Code: smtp; 550 5.1.1 no such user\r\n",
		"Content-Type: text/rfc822-headers\r\n",
		"Subject: the quarterly figures\r\n",
	} {
		if !strings.Contains(dsn, want) {
			t.Errorf("DSN lacks %q:\n%s", want, dsn)
		}
	}
	if strings.Contains(dsn, "Final-Recipient: rfc822; bob@") {
		t.Errorf("DSN names the delivered recipient:\n%s", dsn)
	}
	if strings.Contains(dsn, "Attached.") {
		t.Errorf("DSN carries the original body")
	}
	if strings.Contains(strings.ReplaceAll(dsn, "\r\n", ""), "\n") {
		t.Errorf("DSN has a bare LF")
	}
}

func TestNoDSNForNullSender(t *testing.T) {
	p := startPrimary(t, "127.0.0.1:0", nil)
	p.setRefuse("nobody@elsewhere.test", &smtp.SMTPError{Code: 550,
		EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "no"})
	e := newOutEnv(t, fmt.Sprintf("smarthost = %q", p.addr), nil, "")
	e.send("elsewhere.test", "", "nobody@elsewhere.test")
	e.run()
	waitFor(t, "an empty queue", e.queueEmpty)
	if n := len(e.inbox()); n != 0 {
		t.Errorf("%d DSNs for the null sender", n)
	}
}

// fakeResolver answers from maps; a name in neither is not found.
type fakeResolver struct {
	mx    map[string][]*net.MX
	hosts map[string][]string
}

func notFound(name string) error {
	return &net.DNSError{Err: "no such host", Name: name,
		IsNotFound: true}
}

func (r fakeResolver) LookupMX(_ context.Context,
	name string) ([]*net.MX, error) {
	if mx, ok := r.mx[name]; ok {
		return mx, nil
	}
	return nil, notFound(name)
}

func (r fakeResolver) LookupHost(_ context.Context,
	host string) ([]string, error) {
	if a, ok := r.hosts[host]; ok {
		return a, nil
	}
	return nil, notFound(host)
}

func TestMXOrder(t *testing.T) {
	// Every mail host is on its own loopback address, on one port.
	first := startPrimary(t, "127.0.0.2:0", nil)
	_, port, _ := net.SplitHostPort(first.addr)
	second := startPrimary(t, "127.0.0.3:"+port, nil)
	third := startPrimary(t, "127.0.0.4:"+port, nil)
	res := fakeResolver{
		mx: map[string][]*net.MX{
			// Out of order on purpose; "down" has no server.
			"pref.test": {{Host: "c.mx.", Pref: 30},
				{Host: "a.mx.", Pref: 10}, {Host: "b.mx.", Pref: 20}},
			"down.test": {{Host: "down.mx.", Pref: 5},
				{Host: "b.mx.", Pref: 10}},
		},
		hosts: map[string][]string{
			"a.mx": {"127.0.0.2"}, "b.mx": {"127.0.0.3"},
			"c.mx": {"127.0.0.4"}, "down.mx": {"127.0.0.5"},
			"nomx.test": {"127.0.0.4"},
		},
	}
	tests := []struct {
		domain string
		want   *primary
	}{
		{"pref.test", first},   // lowest preference first
		{"down.test", second},  // the next one when the first is down
		{"nomx.test", third},   // no MX: the domain's own address
		{"[127.0.0.4]", third}, // an address literal: no lookup
	}
	e := newOutEnv(t, "", res, port)
	e.run()
	for _, tc := range tests {
		t.Run(tc.domain, func(t *testing.T) {
			before := len(tc.want.received())
			e.send(tc.domain, "alice@example.test", "u@"+tc.domain)
			waitFor(t, "an empty queue", e.queueEmpty)
			got := tc.want.received()
			if len(got) != before+1 ||
				got[len(got)-1].to[0] != "u@"+tc.domain {
				t.Errorf("the expected MX host got %d messages",
					len(got)-before)
			}
		})
	}
}

func TestMXPermanentFailures(t *testing.T) {
	res := fakeResolver{
		mx: map[string][]*net.MX{"null.test": {{Host: ".", Pref: 0}}},
	}
	tests := []struct{ domain, status string }{
		{"null.test", "Status: 5.1.10\r\n"},
		{"missing.test", "Status: 5.1.2\r\n"},
	}
	e := newOutEnv(t, "", res, "25")
	e.run()
	for i, tc := range tests {
		t.Run(tc.domain, func(t *testing.T) {
			e.send(tc.domain, "alice@example.test", "u@"+tc.domain)
			waitFor(t, "an empty queue", e.queueEmpty)
			inbox := e.inbox()
			if len(inbox) != i+1 {
				t.Fatalf("%d DSNs, want %d", len(inbox), i+1)
			}
			found := false
			for _, m := range inbox {
				found = found || strings.Contains(m, tc.status) &&
					strings.Contains(m, "u@"+tc.domain)
			}
			if !found {
				t.Errorf("no DSN with %q for %s", tc.status,
					tc.domain)
			}
		})
	}
}

func TestOutboundExpires(t *testing.T) {
	dead := freeAddr(t)
	e := newOutEnv(t, fmt.Sprintf("smarthost = %q\n"+
		"queue_lifetime = \"12m\"", dead), nil, "")
	clock := e.clock.(*fakeClock)
	id := e.send("elsewhere.test", "alice@example.test",
		"bob@elsewhere.test")
	e.run()
	for n := 1; n <= 2; n++ {
		waitFor(t, "a deferral", func() bool {
			x, ok := e.entry(id)
			return ok && x.Attempts == n
		})
		if len(e.inbox()) != 0 {
			t.Fatalf("a DSN before the lifetime ended")
		}
		clock.Advance(5 * time.Minute)
	}
	// The third attempt, at 10 minutes, is still within 12; the
	// fourth, at 15, is past it.
	waitFor(t, "a third attempt", func() bool {
		x, ok := e.entry(id)
		return ok && x.Attempts == 3
	})
	clock.Advance(5 * time.Minute)
	waitFor(t, "an empty queue", e.queueEmpty)
	inbox := e.inbox()
	if len(inbox) != 1 || !strings.Contains(inbox[0],
		"Status: 4.4.7\r\n") || !strings.Contains(inbox[0],
		"Final-Recipient: rfc822; bob@elsewhere.test\r\n") {
		t.Errorf("DSN after expiry: %q", inbox)
	}
}

// startAuthPrimary starts a smarthost on loopback that wants AUTH
// PLAIN as u/p before MAIL.
func startAuthPrimary(t *testing.T) *primary {
	t.Helper()
	p := &primary{refuse: map[string]*smtp.SMTPError{}}
	p.srv = smtp.NewServer(smtp.BackendFunc(func(c *smtp.Conn) (
		smtp.Session, error) {
		ps, _ := p.newSession(c)
		return &authSession{primarySession: ps.(*primarySession)}, nil
	}))
	p.srv.Domain = "smarthost.test"
	p.srv.AllowInsecureAuth = true // loopback
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p.addr = l.Addr().String()
	go p.srv.Serve(l)
	t.Cleanup(func() { p.srv.Close() })
	return p
}

type authSession struct {
	*primarySession
	authed bool
}

func (s *authSession) AuthMechanisms() []string { return []string{"PLAIN"} }

func (s *authSession) Auth(string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(_, user, pass string) error {
		if user != "u" || pass != "p" {
			return &smtp.SMTPError{Code: 535,
				EnhancedCode: smtp.EnhancedCode{5, 7, 8},
				Message:      "bad login"}
		}
		s.authed = true
		return nil
	}), nil
}

func (s *authSession) Mail(from string, o *smtp.MailOptions) error {
	if !s.authed {
		return &smtp.SMTPError{Code: 530,
			EnhancedCode: smtp.EnhancedCode{5, 7, 0}, Message: "auth"}
	}
	return s.primarySession.Mail(from, o)
}

func TestSmarthostLogin(t *testing.T) {
	tests := []struct {
		name, pass string
		delivered  bool
	}{
		{"right password", "p", true},
		{"wrong password", "x", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := startAuthPrimary(t)
			e := newOutEnv(t, fmt.Sprintf("smarthost = %q\n"+
				"username = \"u\"\npassword = %q", p.addr, tc.pass),
				nil, "")
			id := e.send("elsewhere.test", "alice@example.test",
				"bob@elsewhere.test")
			e.run()
			waitFor(t, "an attempt", func() bool {
				x, ok := e.entry(id)
				return !ok || x.Attempts == 1
			})
			if got := len(p.received()) == 1; got != tc.delivered {
				t.Errorf("delivered %v, want %v", got, tc.delivered)
			}
			if x, ok := e.entry(id); ok && !strings.Contains(
				x.LastError, "smarthost login: SMTP error 535") {
				t.Errorf("last error %q", x.LastError)
			}
		})
	}
}

func TestSmarthostRequireTLS(t *testing.T) {
	tests := []struct {
		name      string
		tls       bool
		delivered bool
	}{
		{"STARTTLS offered", true, true},
		{"no STARTTLS", false, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var cfg *tls.Config
			if tc.tls {
				cfg = selfSigned(t)
			}
			p := startPrimary(t, "127.0.0.1:0", cfg)
			e := newOutEnv(t, fmt.Sprintf("smarthost = %q\n"+
				"require_tls = true", p.addr), nil, "")
			id := e.send("elsewhere.test", "alice@example.test",
				"bob@elsewhere.test")
			e.run()
			waitFor(t, "an attempt", func() bool {
				x, ok := e.entry(id)
				return !ok || x.Attempts == 1
			})
			got := p.received()
			if (len(got) == 1) != tc.delivered ||
				tc.delivered && !got[0].tls {
				t.Errorf("received %+v", got)
			}
			if x, ok := e.entry(id); ok && !strings.Contains(
				x.LastError, "offers no STARTTLS") {
				t.Errorf("last error %q", x.LastError)
			}
		})
	}
}

func TestAddressLiteral(t *testing.T) {
	tests := []struct{ in, want string }{
		{"[192.0.2.1]", "192.0.2.1"},
		{"[IPv6:2001:db8::1]", "2001:db8::1"},
		{"[2001:db8::1]", ""},    // IPv6 needs its tag
		{"[IPv6:192.0.2.1]", ""}, // and IPv4 has none
		{"192.0.2.1]", ""},
		{"[192.0.2.1", ""},
		{"[]", ""},
		{"example.test", ""},
	}
	for _, tc := range tests {
		got, ok := addressLiteral(tc.in)
		if got != tc.want || ok != (tc.want != "") {
			t.Errorf("addressLiteral(%q) = %q, %v", tc.in, got, ok)
		}
	}
}
