package relayq

import (
	"testing"
	"time"

	"github.com/emersion/go-smtp"
)

// TestStats checks the per-domain sizes and the delivery counters of
// Stats through real attempts: one deferred, one bounced, one
// delivered, and then one held by the operator.
func TestStats(t *testing.T) {
	p := startPrimary(t, "127.0.0.1:0", nil)
	p.setRefuse("later@example.test", &smtp.SMTPError{Code: 451,
		EnhancedCode: smtp.EnhancedCode{4, 2, 0}, Message: "later"})
	p.setRefuse("bad@example.test", &smtp.SMTPError{Code: 550,
		EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "no"})
	clock := newFakeClock()
	e := newEnv(t, p.addr, clock)
	cfg := *e.cfg.Load()
	cfg.Outbound.Smarthost = freeAddr(t) // the DSN waits there
	e.cfg.Store(&cfg)
	if s := e.q.Stats(); len(s.Domains) != 0 ||
		s.Deliveries["delivered"] != 0 {
		t.Fatalf("empty queue: %+v", s)
	}
	first := clock.Now().UTC()
	later := e.enqueue("Subject: a\r\n\r\nx\r\n", "s@else.test",
		"later@example.test")
	clock.Advance(time.Minute)
	e.enqueue("Subject: b\r\n\r\nx\r\n", "s@else.test", "bad@example.test")
	e.enqueue("Subject: c\r\n\r\nx\r\n", "s@else.test", "ok@example.test")
	e.run()
	waitFor(t, "an attempt of each, and the DSN's", func() bool {
		d := e.q.Stats().Deliveries
		return d["delivered"] == 1 && d["bounced"] == 1 &&
			d["deferred"] == 2
	})
	if err := e.q.Hold(later); err != nil {
		t.Fatal(err)
	}
	s := e.q.Stats()
	if d := s.Domains["example.test"]; d != (DomainStats{1, 1, first}) {
		t.Errorf("example.test = %+v, want 1 message, 1 held, oldest %v",
			d, first)
	}
	if _, ok := s.Domains["else.test"]; ok || s.Outbound.Messages != 1 {
		t.Errorf("the DSN on the outbound route: domains %+v, "+
			"outbound %+v", s.Domains, s.Outbound)
	}
}
