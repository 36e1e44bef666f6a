package conf

import (
	"errors"
	"net/url"
	"strings"
)

// Monitor holds the [monitor] table: when a monitored primary is
// declared down or up again. The probe interval is
// server.probe_interval.
type Monitor struct {
	// DownAfter is the number of failed probes in a row that declare
	// an outage.
	DownAfter int
	// UpAfter is the number of good probes in a row that declare a
	// recovery.
	UpAfter int
}

// Alerts holds the [alerts] table: whom the monitor tells about
// outages and recoveries. Both ways are off when empty.
type Alerts struct {
	// Email is the addresses that get an alert by email, lower case.
	Email []string
	// From is the alerts' sender address, lower case.
	From string
	// Webhook is an http:// or https:// URL that gets each alert as
	// a JSON POST; empty for none. It may carry a secret (a token in
	// the query): log its host only.
	Webhook string
}

// Defaults and bounds of the [monitor] keys.
const (
	// DefaultDownAfter is monitor.down_after's default.
	DefaultDownAfter = 3
	// DefaultUpAfter is monitor.up_after's default.
	DefaultUpAfter = 2
	// MaxProbeCount bounds down_after and up_after.
	MaxProbeCount = 100
)

// monitor checks the [monitor] table t, which may be nil.
func (p *parser) monitor(t map[string]any) Monitor {
	return Monitor{
		DownAfter: p.probeCount(t, "down_after", DefaultDownAfter),
		UpAfter:   p.probeCount(t, "up_after", DefaultUpAfter),
	}
}

// probeCount returns the count at monitor.key, or def when it is
// absent or wrong.
func (p *parser) probeCount(t map[string]any, key string, def int) int {
	n, ok := p.getInt(t, "monitor", key)
	if !ok {
		return def
	}
	if n < 1 || n > MaxProbeCount {
		p.errorf(joinKey("monitor", key), "%d must be from 1 to %d",
			n, MaxProbeCount)
		return def
	}
	return int(n)
}

// alerts checks the [alerts] table t, which may be nil; hostname is
// server.hostname, for the default sender.
func (p *parser) alerts(t map[string]any, hostname string) Alerts {
	const path = "alerts"
	a := Alerts{From: "stratamail@" + strings.ToLower(hostname)}
	emails, _ := p.getStrings(t, path, "email")
	for i, e := range emails {
		addr, err := alertAddress(e)
		if err != nil {
			p.errorf(indexKey(joinKey(path, "email"), i), "%s", err)
			continue
		}
		a.Email = append(a.Email, addr)
	}
	if from, ok := p.getString(t, path, "from"); ok {
		addr, err := alertAddress(from)
		if err != nil {
			p.errorf(joinKey(path, "from"), "%s", err)
		}
		a.From = addr
	}
	if hook, ok := p.getString(t, path, "webhook"); ok && hook != "" {
		if err := checkWebhook(hook); err != nil {
			p.errorf(joinKey(path, "webhook"), "%s", err)
		}
		a.Webhook = hook
	}
	return a
}

// alertAddress checks an alert address and returns it in lower case.
func alertAddress(a string) (string, error) {
	local, domain, err := splitAddress(a)
	if err != nil {
		return "", err
	}
	return local + "@" + domain, nil
}

// checkWebhook checks that s is an absolute http or https URL with a
// host. The URL is not quoted in the error: it may hold a token.
func checkWebhook(s string) error {
	u, err := url.Parse(s)
	switch {
	case err != nil:
		return errors.New("is not a URL")
	case u.Scheme != "http" && u.Scheme != "https":
		return errors.New("must start with https:// or http://")
	case u.Host == "" || u.Hostname() == "":
		return errors.New("has no host; write https://host/path")
	case u.Fragment != "":
		return errors.New("has a #fragment, which is never sent")
	}
	if port := u.Port(); port != "" && checkHostPort(
		"x:"+port, "443", false) != nil {
		return errors.New("has a port that is not a number from " +
			"1 to 65535")
	}
	return nil
}
