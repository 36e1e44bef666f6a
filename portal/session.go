package portal

import (
	"crypto/rand"
	"crypto/subtle"
	"net"
	"net/http"
	"net/netip"
	"time"
)

// cookieName is the session cookie's name.
const cookieName = "stratamail_session"

// maxLoginField bounds the name and password of a login form.
const maxLoginField = 1024

// maxForm bounds the body of a form POST.
const maxForm = 64 << 10

// truncate returns s cut to at most n bytes.
func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}

// session is one operator's login.
type session struct {
	operator string
	csrf     string // the token every POST form of the session carries
	expires  time.Time
	flash    string // the last action's result; under Server.mu
}

// pageData is what every page template gets.
type pageData struct {
	Title    string
	Operator string // "" on the login page
	CSRF     string
	Flash    string // a message of the last action
	Error    string
	Body     any // the page's own data
}

// newToken returns a random token of 256 bits.
func newToken() string { return rand.Text() + rand.Text() }

// current returns the live session of r, or nil. A session ends at its
// expiry, and as soon as its operator is no longer in the
// configuration.
func (s *Server) current(r *http.Request) *session {
	c, err := r.Cookie(cookieName)
	if err != nil || c.Value == "" {
		return nil
	}
	s.mu.Lock()
	sess := s.sessions[c.Value]
	if sess != nil && !s.now().Before(sess.expires) {
		delete(s.sessions, c.Value)
		sess = nil
	}
	s.mu.Unlock()
	if sess == nil {
		return nil
	}
	if s.opts.Config().Portal.Operator(sess.operator) == nil {
		s.drop(c.Value)
		return nil
	}
	return sess
}

// drop ends the session token.
func (s *Server) drop(token string) {
	s.mu.Lock()
	delete(s.sessions, token)
	s.mu.Unlock()
}

// authedHandler is a handler for a logged-in operator.
type authedHandler func(http.ResponseWriter, *http.Request, *session)

// authed wraps h: without a session, GET goes to the login page and
// other methods get 403; a POST must carry the session's CSRF token.
func (s *Server) authed(h authedHandler) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		sess := s.current(r)
		if sess == nil {
			if r.Method == http.MethodGet {
				http.Redirect(w, r, "/login", http.StatusSeeOther)
				return
			}
			http.Error(w, "not logged in", http.StatusForbidden)
			return
		}
		if r.Method == http.MethodPost && !s.checkCSRF(w, r, sess) {
			s.log.Warn("portal: request refused", "operator",
				sess.operator, "path", r.URL.Path, "remote",
				r.RemoteAddr, "reason", "bad CSRF token")
			http.Error(w, "invalid or missing form token; reload the "+
				"page and try again", http.StatusForbidden)
			return
		}
		h(w, r, sess)
	}
}

// checkCSRF reports whether the POST r carries sess's token, and, if
// the browser names its origin, comes from this portal.
func (s *Server) checkCSRF(w http.ResponseWriter, r *http.Request,
	sess *session) bool {
	if !sameOrigin(r) {
		return false
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxForm)
	got := r.PostFormValue("csrf")
	return got != "" &&
		subtle.ConstantTimeCompare([]byte(got), []byte(sess.csrf)) == 1
}

// sameOrigin reports whether r's Origin header, if any, names the
// host r was sent to.
func sameOrigin(r *http.Request) bool {
	o := r.Header.Get("Origin")
	if o == "" {
		return true
	}
	scheme := "http://"
	if r.TLS != nil {
		scheme = "https://"
	}
	return o == scheme+r.Host
}

// loginPage shows the login form.
func (s *Server) loginPage(w http.ResponseWriter, r *http.Request) {
	if s.current(r) != nil {
		http.Redirect(w, r, "/", http.StatusSeeOther)
		return
	}
	s.render(w, http.StatusOK, "login", pageData{Title: "Log in"})
}

// login checks the form and starts a session. A failed login is
// answered after FailDelay, the same for an unknown name and a wrong
// password.
func (s *Server) login(w http.ResponseWriter, r *http.Request) {
	if !sameOrigin(r) {
		http.Error(w, "cross-origin login refused", http.StatusForbidden)
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxForm)
	name, pw := r.PostFormValue("name"), r.PostFormValue("password")
	if len(name) > maxLoginField || len(pw) > maxLoginField {
		name, pw = "", ""
	}
	// The name as typed (never the password), cut to a name's
	// longest so that a flood of junk cannot bloat the log.
	log := s.log.With("operator", truncate(name, 64),
		"remote", r.RemoteAddr)
	ip := clientIP(r)
	if locked, _ := s.auth.Locked(ip, name, s.now()); locked {
		log.Warn("portal login", "outcome", "locked out")
		s.render(w, http.StatusTooManyRequests, "login", pageData{
			Title: "Log in", Error: "Too many failed logins; try " +
				"again later."})
		return
	}
	pt := s.opts.Config().Portal
	op := pt.Operator(name)
	if op == nil || !op.CheckPassword(pw) {
		if op == nil && len(pt.Operators) > 0 {
			// Spend a real check's time, its result unused, so that
			// a name cannot be told from its answer's timing.
			pt.Operators[0].CheckPassword(pw)
		}
		// Failures cost a growing delay, then a lockout, per address
		// and name (internal/authlimit, as for IMAP and submission).
		n, delay, locked := s.auth.Failed(ip, name, s.now())
		log.Info("portal login", "outcome", "failed", "failures", n,
			"locked", locked)
		s.opts.Sleep(max(s.opts.FailDelay, delay))
		s.render(w, http.StatusUnauthorized, "login", pageData{
			Title: "Log in", Error: "Wrong name or password."})
		return
	}
	s.auth.Succeeded(ip, name)
	token := s.startSession(op.Name)
	http.SetCookie(w, &http.Cookie{
		Name: cookieName, Value: token, Path: "/",
		MaxAge: int(s.opts.SessionTTL / time.Second), HttpOnly: true,
		Secure: r.TLS != nil, SameSite: http.SameSiteStrictMode,
	})
	log.Info("portal login", "outcome", "ok")
	http.Redirect(w, r, "/", http.StatusSeeOther)
}

// startSession records a new session of operator and returns its
// token, dropping expired ones.
func (s *Server) startSession(operator string) string {
	token := newToken()
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	for t, sess := range s.sessions {
		if !now.Before(sess.expires) {
			delete(s.sessions, t)
		}
	}
	s.sessions[token] = &session{operator: operator, csrf: newToken(),
		expires: now.Add(s.opts.SessionTTL)}
	return token
}

// logout ends the session.
func (s *Server) logout(w http.ResponseWriter, r *http.Request,
	sess *session) {
	if c, err := r.Cookie(cookieName); err == nil {
		s.drop(c.Value)
	}
	http.SetCookie(w, &http.Cookie{Name: cookieName, Value: "",
		Path: "/", MaxAge: -1, HttpOnly: true, Secure: r.TLS != nil,
		SameSite: http.SameSiteStrictMode})
	s.log.Info("portal logout", "operator", sess.operator,
		"remote", r.RemoteAddr)
	http.Redirect(w, r, "/login", http.StatusSeeOther)
}

// fromLoopback reports whether r comes from a loopback address.
func fromLoopback(r *http.Request) bool {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return false
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.Unmap().IsLoopback()
}

// clientIP returns the address of r's client.
func clientIP(r *http.Request) netip.Addr {
	ap, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		return netip.Addr{}
	}
	return ap.Addr().Unmap()
}
