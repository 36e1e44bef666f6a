package portal

import (
	"crypto/tls"
	"crypto/x509"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"testing"

	"github.com/stratamail/continuity/internal/testcert"
)

// TestServeTLS runs the portal over HTTPS, as for a listen address off
// loopback: the session cookie is Secure and HSTS is sent, and a plain
// HTTP request gets no page.
func TestServeTLS(t *testing.T) {
	e := newEnv(t, "")
	cert, certPEM, _ := testcert.New(t, "portal.test")
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		done <- e.srv.Serve(ln, &tls.Config{
			Certificates: []tls.Certificate{cert}})
	}()
	t.Cleanup(func() {
		e.srv.Close()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(certPEM)
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: pool,
			ServerName: "portal.test"}},
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		}}
	base := "https://" + ln.Addr().String()
	resp, err := c.PostForm(base+"/login", url.Values{
		"name": {"admin"}, "password": {testPassword}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	sc := resp.Header.Get("Set-Cookie")
	if resp.StatusCode != http.StatusSeeOther ||
		!strings.Contains(sc, "; Secure") {
		t.Errorf("login over HTTPS: %d, Set-Cookie %q", resp.StatusCode,
			sc)
	}
	if h := resp.Header.Get("Strict-Transport-Security"); h == "" {
		t.Error("no HSTS over HTTPS")
	}
	plain, err := http.Get("http://" + ln.Addr().String() + "/login")
	if err == nil {
		plain.Body.Close()
		if plain.StatusCode == http.StatusOK {
			t.Error("a page over plain HTTP on the HTTPS listener")
		}
	}
}
