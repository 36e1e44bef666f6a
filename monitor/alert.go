package monitor

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/stratamail/continuity/conf"
)

// Alert is one outage or recovery, as the webhook receives it (JSON).
type Alert struct {
	// Event is "outage" or "recovery".
	Event  string `json:"event"`
	Domain string `json:"domain"`
	Relay  string `json:"relay"`
	// Since is when the new state began, to the second: the first
	// failed probe of an outage, the first good probe of a recovery.
	Since time.Time `json:"since"`
	// DurationSeconds is, for an outage, how long the primary has been
	// down when it is declared; for a recovery, how long the outage
	// lasted.
	DurationSeconds int64  `json:"duration_seconds"`
	Reason          string `json:"reason"`
	// Server is this server's hostname.
	Server string `json:"server"`
}

// The alert events.
const (
	EventOutage   = "outage"
	EventRecovery = "recovery"
)

// newAlert returns the alert for the change c, declared at now, or
// false when c is not alerted: only a change to down, and one from
// down to up, are.
func newAlert(c change, server string, now time.Time) (Alert, bool) {
	a := Alert{Domain: c.ev.Domain, Relay: c.ev.Relay,
		Since: c.ev.Time.UTC().Truncate(time.Second), Reason: c.ev.Reason,
		Server: server}
	switch {
	case c.ev.State == StateDown:
		a.Event = EventOutage
		a.DurationSeconds = seconds(now.Sub(c.ev.Time))
	case c.ev.State == StateUp && c.prev == StateDown:
		a.Event = EventRecovery
		a.DurationSeconds = seconds(c.ev.Time.Sub(c.prevSince))
	default:
		return Alert{}, false
	}
	return a, true
}

func seconds(d time.Duration) int64 {
	return int64(max(d, 0).Round(time.Second) / time.Second)
}

// alert sends a to every receiver of cfg, each in a goroutine of its
// own that retries; the probes never wait for it.
func (m *Monitor) alert(ctx context.Context, a Alert, cfg conf.Alerts) {
	if cfg.Webhook != "" {
		m.alerts.Go(func() {
			m.retry(ctx, "webhook", a, func(ctx context.Context) error {
				return m.postWebhook(ctx, cfg.Webhook, a)
			})
		})
	}
	if len(cfg.Email) == 0 {
		return
	}
	msg := alertMessage(a, cfg.From, cfg.Email, m.clock.Now())
	m.alerts.Go(func() {
		m.retry(ctx, "email", a, func(context.Context) error {
			if m.opts.SendMail == nil {
				return errors.New("no way to send mail configured")
			}
			return m.opts.SendMail(cfg.From, cfg.Email, msg)
		})
	})
}

// retry calls send up to AlertAttempts times, waiting AlertRetryDelay
// after the first failure and twice as long after each next one.
func (m *Monitor) retry(ctx context.Context, kind string, a Alert,
	send func(context.Context) error) {
	delay := m.opts.AlertRetryDelay
	for attempt := 1; ; attempt++ {
		err := send(ctx)
		log := m.log.With("alert", kind, "event", a.Event,
			"domain", a.Domain, "attempt", attempt)
		if err == nil {
			log.Info("monitor: alert sent")
			return
		}
		if attempt >= m.opts.AlertAttempts {
			log.Error("monitor: alert not sent; giving up", "err", err)
			return
		}
		log.Warn("monitor: alert failed; will retry", "err", err,
			"retry_in", delay)
		select {
		case <-ctx.Done():
			log.Error("monitor: alert not sent; shutting down")
			return
		case <-m.clock.After(delay):
		}
		delay *= 2
	}
}

// postWebhook POSTs a as JSON to hook; any 2xx answer is success. The
// errors name the hook's host only: its path or query may hold a token.
func (m *Monitor) postWebhook(ctx context.Context, hook string,
	a Alert) error {
	body, err := json.Marshal(a)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, hook,
		bytes.NewReader(body))
	if err != nil {
		return errors.New("webhook URL does not parse")
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "StrataMail-Continuity")
	resp, err := m.opts.HTTPClient.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return fmt.Errorf("webhook %s: %w", req.URL.Host, err)
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("webhook %s answered %s", req.URL.Host,
			resp.Status)
	}
	return nil
}

// alertMessage returns the email for a (RFC 5322), dated now.
func alertMessage(a Alert, from string, to []string,
	now time.Time) []byte {
	var b strings.Builder
	h := func(k, v string) { b.WriteString(k + ": " + v + "\r\n") }
	h("Date", now.Format(time.RFC1123Z))
	h("From", "StrataMail Continuity <"+from+">")
	h("To", strings.Join(to, ", "))
	h("Subject", alertSubject(a))
	h("Message-ID", "<"+messageID()+"@"+a.Server+">")
	h("MIME-Version", "1.0")
	h("Content-Type", "text/plain; charset=utf-8")
	h("Content-Transfer-Encoding", "8bit")
	h("Auto-Submitted", "auto-generated") // RFC 3834 §5
	b.WriteString("\r\n")
	for _, line := range alertText(a) {
		b.WriteString(line + "\r\n")
	}
	return []byte(b.String())
}

func alertSubject(a Alert) string {
	if a.Event == EventOutage {
		return "[StrataMail] outage: the primary of " + a.Domain +
			" is down"
	}
	return "[StrataMail] recovery: the primary of " + a.Domain +
		" is back up"
}

// alertText is the body of an alert email, line by line.
func alertText(a Alert) []string {
	dur := (time.Duration(a.DurationSeconds) * time.Second).String()
	since := a.Since.UTC().Format("2006-01-02 15:04:05 MST")
	if a.Event == EventOutage {
		return []string{
			"The primary mail server of " + a.Domain + " is down.", "",
			"Domain:      " + a.Domain,
			"Relay host:  " + a.Relay,
			"Down since:  " + since,
			"Down for:    " + dur,
			"Reason:      " + a.Reason,
			"Server:      " + a.Server, "",
			"Mail for " + a.Domain + " is accepted and queued on " +
				a.Server + ";",
			"it goes to the primary as soon as the primary answers " +
				"again.",
		}
	}
	return []string{
		"The primary mail server of " + a.Domain + " is back up.", "",
		"Domain:         " + a.Domain,
		"Relay host:     " + a.Relay,
		"Up since:       " + since,
		"Outage lasted:  " + dur,
		"Server:         " + a.Server, "",
		"The mail queued for " + a.Domain + " is being delivered now.",
	}
}

// messageID returns a unique left part for a Message-ID.
func messageID() string { return "alert." + rand.Text() }
