package conf

import (
	"crypto/tls"
	"fmt"
	"math"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// server checks the [server] table t, which may be nil.
func (p *parser) server(t map[string]any) Server {
	const path = "server"
	s := Server{
		Hostname: p.hostname(t),
		RetryInterval: p.duration(t, path, "retry_interval",
			DefaultRetryInterval),
		ProbeInterval: p.duration(t, path, "probe_interval",
			DefaultProbeInterval),
		MaxMessageSize: p.size(t, path, "max_message_size",
			DefaultMaxMessageSize),
		MaxRecipients: DefaultMaxRecipients,
	}
	dir, ok := p.needString(t, path, "data_dir",
		"set it to the directory for the shadow mailboxes "+
			"and the queue")
	if ok && !filepath.IsAbs(dir) {
		p.errorf("server.data_dir", "%q must be an absolute path", dir)
	} else if ok {
		s.DataDir = filepath.Clean(dir)
	}
	for key, d := range map[string]time.Duration{
		"retry_interval": s.RetryInterval,
		"probe_interval": s.ProbeInterval} {
		if d > 0 && d < 100*time.Millisecond {
			p.errorf("server."+key, "%v is too short: at least "+
				"100ms", d)
		}
	}
	if s.MaxMessageSize > 0 && s.MaxMessageSize < 512 {
		p.errorf("server.max_message_size", "%d bytes is too small "+
			"for any message: at least 512", s.MaxMessageSize)
	}
	if n, ok := p.getInt(t, path, "max_recipients"); ok {
		if n < 1 || n > math.MaxInt32 {
			p.errorf("server.max_recipients", "%d must be from 1 "+
				"to %d", n, math.MaxInt32)
		}
		s.MaxRecipients = int(n)
	}
	s.RelayConnectTimeout = p.duration(t, path, "relay_connect_timeout", 0)
	s.RelayCommandTimeout = p.duration(t, path, "relay_command_timeout", 0)
	s.RelayDataTimeout = p.duration(t, path, "relay_data_timeout", 0)
	s.DelayWarning = p.duration(t, path, "delay_warning", 0)
	s.RelayConnections = DefaultRelayConnections
	if n, ok := p.getInt(t, path, "relay_connections"); ok {
		if n < 1 || n > 64 {
			p.errorf("server.relay_connections", "%d must be from 1 "+
				"to 64", n)
		}
		s.RelayConnections = int(n)
	}
	return s
}

// hostname returns server.hostname, or the system's host name.
func (p *parser) hostname(t map[string]any) string {
	const key = "server.hostname"
	h, ok := p.getString(t, "server", "hostname")
	if !ok {
		if _, given := t["hostname"]; given {
			return ""
		}
		// TODO: check the system's name too; it may be a bare
		// container id that no one can resolve.
		name, err := os.Hostname()
		if err != nil || name == "" {
			p.errorf(key, "not set, and the system's host name is "+
				"unknown (%v); set it", err)
		}
		return name
	}
	if err := checkDomain(strings.ToLower(h)); err != nil {
		p.errorf(key, "%s", err)
	}
	return h
}

// smtp checks the [smtp] table t, which may be nil.
func (p *parser) smtp(t map[string]any) SMTP {
	listen := p.listen(t, "smtp", DefaultSMTPListen, "25")
	if listen != nil && len(listen) == 0 {
		p.errorf("smtp.listen", "is empty; a backup MX must accept "+
			"SMTP")
	}
	return SMTP{Listen: listen, AcceptFrom: p.networks(t, "smtp")}
}

// imap checks the [imap] table t, which may be nil. An empty listen
// array is allowed: it turns IMAP off. smtp is the SMTP listen array,
// which must not share an address with IMAP.
func (p *parser) imap(t map[string]any, smtp []string) IMAP {
	const path = "imap"
	c := IMAP{Listen: p.listen(t, path, DefaultIMAPListen, "143")}
	for i, a := range c.Listen {
		if used(smtp, a) {
			p.errorf(indexKey("imap.listen", i), "%q is also in "+
				"smtp.listen", a)
		}
	}
	c.TLSListen = p.optListen(t, path, "tls_listen", "993")
	p.notTaken(path+".tls_listen", c.TLSListen, slices.Concat(smtp,
		c.Listen))
	c.AllowInsecureAuth, _ = p.getBool(t, path, "allow_insecure_auth")
	if !c.AllowInsecureAuth {
		return c
	}
	for _, a := range c.Listen {
		if !isLoopback(a) {
			p.errorf("imap.allow_insecure_auth", "true sends "+
				"passwords in clear text, so every imap.listen "+
				"address must be on loopback; %q is not", a)
			break
		}
	}
	return c
}

// imapLogins warns about IMAP listeners off loopback without [tls]:
// there the server offers no login at all (LOGINDISABLED, RFC 3501
// §6.2.3), as it never takes passwords in clear text over a network.
// It is a warning, not an error: the default listener is one, and a
// server that only relays needs no logins. imap is the [imap] table,
// if any.
func (p *parser) imapLogins(c *Config, imap any) {
	if c.TLS.Cert != "" || c.IMAP.AllowInsecureAuth {
		return
	}
	t, _ := imap.(map[string]any)
	_, given := t["listen"]
	for i, a := range c.IMAP.Listen {
		if isLoopback(a) {
			continue
		}
		key, what := indexKey("imap.listen", i), fmt.Sprintf("%q", a)
		if !given {
			key, what = "imap.listen", fmt.Sprintf("the default %q", a)
		}
		p.warnf(key, "%s is off loopback and there is no [tls]: no "+
			"IMAP client can log in there (LOGINDISABLED). Set cert "+
			"and key in [tls], listen on loopback, or set listen = [] "+
			"to turn IMAP off", what)
	}
}

// listen returns the checked listen array of the table at path, or
// def when it has none, or nil after an error.
func (p *parser) listen(t map[string]any, path, def, port string) []string {
	addrs, ok := p.getStrings(t, path, "listen")
	if !ok {
		if _, given := t["listen"]; given {
			return nil
		}
		return []string{def}
	}
	key := joinKey(path, "listen")
	for i, a := range addrs {
		if err := checkHostPort(a, port, true); err != nil {
			p.errorf(indexKey(key, i), "%s", err)
		} else if used(addrs[:i], a) {
			p.errorf(indexKey(key, i), "%q is listed twice", a)
		}
	}
	return addrs
}

// used reports whether addr, which is not on port 0, is in addrs.
func used(addrs []string, addr string) bool {
	return slices.ContainsFunc(addrs, func(a string) bool {
		return overlaps(a, addr)
	})
}

// overlaps reports whether listening on a and on b would collide: the
// same port (not 0) and the same host, or a wildcard host covering the
// other ("0.0.0.0" every IPv4 address, "::" or "" every address, as
// Linux binds it dual-stack).
func overlaps(a, b string) bool {
	ha, pa, err1 := net.SplitHostPort(a)
	hb, pb, err2 := net.SplitHostPort(b)
	if err1 != nil || err2 != nil {
		return a == b && !strings.HasSuffix(a, ":0")
	}
	if pa != pb || pa == "0" {
		return false
	}
	ha, hb = strings.ToLower(ha), strings.ToLower(hb)
	switch {
	case ha == hb, ha == "" || ha == "::", hb == "" || hb == "::":
		return true
	case ha == "0.0.0.0":
		return isIPv4Host(hb)
	case hb == "0.0.0.0":
		return isIPv4Host(ha)
	}
	return false
}

// isIPv4Host reports whether h is an IPv4 address or localhost.
func isIPv4Host(h string) bool {
	ip, err := netip.ParseAddr(h)
	return h == "localhost" || err == nil && ip.Is4()
}

// isLoopback reports whether the listen address a (host:port) is on
// loopback: 127.0.0.0/8, ::1 or localhost.
func isLoopback(a string) bool {
	host := a
	if i := strings.LastIndexByte(a, ':'); i >= 0 {
		host = strings.Trim(a[:i], "[]")
	}
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.Unmap().IsLoopback()
}

// tls checks the [tls] table t, which may be nil, and loads the pair.
func (p *parser) tls(t map[string]any) TLS {
	c := TLS{}
	cert, certOK := p.getString(t, "tls", "cert")
	key, keyOK := p.getString(t, "tls", "key")
	if badType(t, "cert", certOK) || badType(t, "key", keyOK) {
		return c
	}
	switch {
	case cert == "" && key == "":
	case cert == "":
		p.errorf("tls.cert", "missing; key is set, so cert must be too")
	case key == "":
		p.errorf("tls.key", "missing; cert is set, so key must be too")
	default:
		c.Cert, c.Key = cert, key // set, so no other key asks for it
		pair, err := tls.LoadX509KeyPair(cert, key)
		if err != nil {
			p.errorf("tls.cert", "cannot load the pair: %v", err)
			return c
		}
		c.Certificate = &pair
	}
	return c
}

// badType reports whether key is in t but a getter refused its value.
func badType(t map[string]any, key string, ok bool) bool {
	_, given := t[key]
	return given && !ok
}
