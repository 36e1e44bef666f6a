package portal

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"
)

// TestLoginRequired checks that every page but the login form sends a
// visitor without a session to it, and every action is refused.
func TestLoginRequired(t *testing.T) {
	e := newEnv(t, "")
	c := e.client()
	for _, path := range []string{"/", "/queue/example.test",
		"/queue/example.test/entry/x", "/uptime/example.test"} {
		code, loc, _ := c.get(path)
		if code != http.StatusSeeOther || loc != "/login" {
			t.Errorf("GET %s: %d to %q, want 303 to /login", path,
				code, loc)
		}
	}
	for _, path := range []string{"/queue/example.test", "/logout"} {
		code, _, _ := c.post(path, url.Values{"op": {"flush-all"}})
		if code != http.StatusForbidden {
			t.Errorf("POST %s: %d, want 403", path, code)
		}
	}
	if code, _, body := c.get("/login"); code != http.StatusOK ||
		!strings.Contains(body, `name="password"`) {
		t.Errorf("GET /login: %d\n%s", code, body)
	}
}

// TestLoginFails checks wrong passwords and names: 401, no session,
// and an answer no sooner than the failed-login delay.
func TestLoginFails(t *testing.T) {
	e := newEnv(t, "")
	e.srv.opts.FailDelay = 50 * time.Millisecond
	for _, tc := range []struct{ name, password string }{
		{"admin", "wrong"},
		{"admin", ""},
		{"Admin", testPassword}, // names compare exactly
		{"nobody", testPassword},
		{strings.Repeat("a", 2000), testPassword},
	} {
		c := e.client()
		start := time.Now()
		code, _, body := c.post("/login", url.Values{
			"name": {tc.name}, "password": {tc.password}})
		if took := time.Since(start); took < 50*time.Millisecond {
			t.Errorf("%.20q: answered after %v, before the delay",
				tc.name, took)
		}
		if code != http.StatusUnauthorized ||
			!strings.Contains(body, "Wrong name or password") {
			t.Errorf("%.20q/%q: %d\n%s", tc.name, tc.password, code,
				body)
		}
		if code, loc, _ := c.get("/"); code != http.StatusSeeOther ||
			loc != "/login" {
			t.Errorf("%.20q: a session after a failed login", tc.name)
		}
	}
}

// TestSessionCookie checks the cookie's attributes, logout, and that a
// session ends when its operator leaves the configuration.
func TestSessionCookie(t *testing.T) {
	e := newEnv(t, "")
	c := e.client()
	resp, err := c.http.PostForm(e.ts.URL+"/login", url.Values{
		"name": {"admin"}, "password": {testPassword}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	sc := resp.Header.Get("Set-Cookie")
	for _, want := range []string{cookieName + "=", "HttpOnly",
		"SameSite=Strict", "Path=/", "Max-Age=28800"} {
		if !strings.Contains(sc, want) {
			t.Errorf("Set-Cookie %q lacks %s", sc, want)
		}
	}
	if strings.Contains(sc, "Secure") {
		t.Errorf("Set-Cookie %q is Secure over plain HTTP", sc)
	}
	c.login()
	if code, _, _ := c.get("/"); code != http.StatusOK {
		t.Fatalf("logged in: %d", code)
	}
	code, loc, _ := c.post("/logout", url.Values{"csrf": {c.csrf}})
	if code != http.StatusSeeOther || loc != "/login" {
		t.Errorf("logout: %d to %q", code, loc)
	}
	if code, _, _ := c.get("/"); code != http.StatusSeeOther {
		t.Errorf("after logout: %d, want 303", code)
	}

	c.login()
	e.setConfig("", otherHash()) // a new password
	if code, _, _ := c.get("/"); code != http.StatusOK {
		t.Errorf("session of a kept operator ended: %d", code)
	}
	e.renameOperator("someone")
	if code, _, _ := c.get("/"); code != http.StatusSeeOther {
		t.Errorf("session of a removed operator: %d, want 303", code)
	}
}

// TestCSRF checks that a POST without the session's token, or from
// another origin, changes nothing.
func TestCSRF(t *testing.T) {
	e := newEnv(t, "")
	id := e.enqueue("example.test", "kept", "alice@example.test")
	c := e.client()
	c.login()
	other := e.client()
	other.login()
	form := func(csrf string) url.Values {
		return url.Values{"op": {"delete-all"}, "confirm": {"yes"},
			"csrf": {csrf}}
	}
	for name, f := range map[string]url.Values{
		"no token":           {"op": {"delete-all"}, "confirm": {"yes"}},
		"wrong token":        form("x" + c.csrf[1:]),
		"another's token":    form(other.csrf),
		"empty token":        form(""),
		"token in the query": nil,
		"token cut short":    form(c.csrf[:len(c.csrf)-1]),
	} {
		var code int
		if f == nil {
			code, _, _ = c.post("/queue/example.test?csrf="+c.csrf,
				url.Values{"op": {"delete-all"}, "confirm": {"yes"}})
		} else {
			code, _, _ = c.post("/queue/example.test", f)
		}
		if code != http.StatusForbidden {
			t.Errorf("%s: %d, want 403", name, code)
		}
		if _, ok := e.entry(id); !ok {
			t.Fatalf("%s: the entry was deleted", name)
		}
	}
	req, _ := http.NewRequest("POST", e.ts.URL+"/queue/example.test",
		strings.NewReader(form(c.csrf).Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", "http://evil.test")
	resp, err := c.http.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("cross-origin POST: %d, want 403", resp.StatusCode)
	}
	if _, ok := e.entry(id); !ok {
		t.Fatal("cross-origin POST deleted the entry")
	}
	if code, _, _ := c.post("/queue/example.test",
		form(c.csrf)); code != http.StatusSeeOther {
		t.Errorf("with the token: %d, want 303", code)
	}
	if _, ok := e.entry(id); ok {
		t.Error("with the token: the entry is still there")
	}
}

// TestLoginOrigin checks the Origin rule on the login form: a browser
// on the portal's own page sends its origin, which is accepted; a page
// of another site, or an opaque origin, is refused. It also pins the
// Referrer-Policy that makes Chromium send the origin on form POSTs.
func TestLoginOrigin(t *testing.T) {
	e := newEnv(t, "")
	form := url.Values{"name": {"admin"}, "password": {testPassword}}
	for origin, want := range map[string]int{
		"":                 http.StatusSeeOther,
		e.ts.URL:           http.StatusSeeOther,
		"null":             http.StatusForbidden,
		"http://evil.test": http.StatusForbidden,
		"https://" + e.ts.Listener.Addr().String(): http.StatusForbidden,
	} {
		req, _ := http.NewRequest("POST", e.ts.URL+"/login",
			strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type",
			"application/x-www-form-urlencoded")
		if origin != "" {
			req.Header.Set("Origin", origin)
		}
		resp, err := e.client().http.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("Origin %q: %d, want %d", origin,
				resp.StatusCode, want)
		}
		if p := resp.Header.Get("Referrer-Policy"); p != "same-origin" {
			t.Errorf("Referrer-Policy %q", p)
		}
	}
}

// TestLoginLockout fails an operator's login from one address until the
// lockout: later tries wait longer, and then even the right password is
// refused (429) while another address still gets in.
func TestLoginLockout(t *testing.T) {
	e := newEnv(t, "")
	var slept []time.Duration
	e.srv.opts.FailDelay = 0
	e.srv.opts.Sleep = func(d time.Duration) { slept = append(slept, d) }
	c := e.client()
	for range 10 {
		c.post("/login", url.Values{"name": {"admin"},
			"password": {"wrong"}})
	}
	if len(slept) != 10 || slept[3] != 2*time.Second ||
		slept[6] != 15*time.Second {
		t.Errorf("delays %v", slept)
	}
	code, _, body := c.post("/login", url.Values{"name": {"admin"},
		"password": {testPassword}})
	if code != http.StatusTooManyRequests ||
		!strings.Contains(body, "Too many failed logins") {
		t.Errorf("right password while locked out: %d\n%s", code, body)
	}
}

// TestUnknownHost refuses a request naming another host (a DNS
// rebinding page) and takes IP addresses, localhost and the hostname.
func TestUnknownHost(t *testing.T) {
	e := newEnv(t, "")
	for host, want := range map[string]int{
		"evil.test:8025":  http.StatusMisdirectedRequest,
		"127.0.0.1:8025":  http.StatusOK,
		"[::1]:8025":      http.StatusOK,
		"localhost":       http.StatusOK,
		"LOCALHOST:8025":  http.StatusOK,
		"mx.example.test": http.StatusMisdirectedRequest,
	} {
		req := httptest.NewRequest("GET", "/login", nil)
		req.Host = host
		w := httptest.NewRecorder()
		e.srv.ServeHTTP(w, req)
		if w.Code != want {
			t.Errorf("Host %s: %d, want %d", host, w.Code, want)
		}
	}
}
