package portal

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// FuzzHandler sends arbitrary requests, with and without a session
// and its CSRF token, to a portal over a real queue and monitor: no
// request may crash it or get a 500, and none may reach a page without
// the session.
func FuzzHandler(f *testing.F) {
	for _, s := range []struct {
		method, path, body string
		login              bool
	}{
		{"GET", "/", "", true},
		{"GET", "/queue/example.test", "", true},
		{"GET", "/queue/example.test/entry/%00", "", true},
		{"POST", "/queue/example.test", "op=delete&id=..%2F..", true},
		{"POST", "/queue/example.test", "op=delete-all&confirm=yes", true},
		{"POST", "/queue/EXAMPLE.TEST", "op=hold&id=", true},
		{"POST", "/login", "name=admin&password=x", false},
		{"POST", "/login", "name=%ff%fe&password=%00", false},
		{"GET", "/uptime/other.test", "", true},
		{"GET", "/metrics", "", false},
		{"POST", "/logout", "", true},
		{"GET", "/queue/a%2Fb", "", false},
	} {
		f.Add(s.method, s.path, s.body, s.login)
	}
	e := newEnv(f, "")
	// Failed logins from the one address soon earn delays of up to 15 s
	// (authlimit); waiting them out for real would stall the fuzzer
	// until it takes the target for hung.
	e.srv.opts.Sleep = func(time.Duration) {}
	token := e.srv.startSession("admin")
	var csrf string
	for _, sess := range e.srv.sessions {
		csrf = sess.csrf
	}
	f.Fuzz(func(t *testing.T, method, path, body string, login bool) {
		if login && method == "POST" {
			body += "&csrf=" + csrf
		}
		req, err := http.NewRequest(method, "http://127.0.0.1"+path,
			strings.NewReader(body))
		if err != nil {
			return
		}
		req.RemoteAddr = "192.0.2.1:1234" // not loopback
		req.Header.Set("Content-Type",
			"application/x-www-form-urlencoded")
		if login {
			req.AddCookie(&http.Cookie{Name: cookieName, Value: token})
		}
		w := httptest.NewRecorder()
		e.srv.ServeHTTP(w, req)
		if w.Code >= 500 {
			t.Fatalf("%s %q: %d %s", method, path, w.Code, w.Body)
		}
		if !login && w.Code == http.StatusOK &&
			req.URL.Path != "/login" && req.URL.Path != "/style.css" {
			t.Fatalf("%s %q without a session: 200", method, path)
		}
	})
}
