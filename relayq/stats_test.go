package relayq

import (
	"testing"
	"time"

	"github.com/emersion/go-smtp"
)

// TestStats checks the per-domain sizes and the delivery counters of
// Stats through real attempts: one deferred, one held, one delivered.
func TestStats(t *testing.T) {
	p := startPrimary(t, "127.0.0.1:0", nil)
	p.setRefuse("later@example.test", &smtp.SMTPError{Code: 451,
		EnhancedCode: smtp.EnhancedCode{4, 2, 0}, Message: "later"})
	p.setRefuse("bad@example.test", &smtp.SMTPError{Code: 550,
		EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "no"})
	clock := newFakeClock()
	e := newEnv(t, p.addr, clock)
	if s := e.q.Stats(); len(s.Domains) != 0 ||
		s.Deliveries["delivered"] != 0 {
		t.Fatalf("empty queue: %+v", s)
	}
	first := clock.Now().UTC()
	e.enqueue("Subject: a\r\n\r\nx\r\n", "s@else.test", "later@example.test")
	clock.Advance(time.Minute)
	e.enqueue("Subject: b\r\n\r\nx\r\n", "s@else.test", "bad@example.test")
	e.enqueue("Subject: c\r\n\r\nx\r\n", "s@else.test", "ok@example.test")
	e.run()
	waitFor(t, "three attempts and one entry gone", func() bool {
		s := e.q.Stats()
		d := s.Deliveries
		return d["delivered"]+d["deferred"]+d["held"] == 3 &&
			s.Domains["example.test"] == (DomainStats{2, 1, first})
	})
	s := e.q.Stats()
	want := map[string]uint64{"delivered": 1, "deferred": 1, "held": 1}
	for k, v := range want {
		if s.Deliveries[k] != v {
			t.Errorf("deliveries %s = %d, want %d", k, s.Deliveries[k], v)
		}
	}
	d := s.Domains["example.test"]
	if len(s.Domains) != 1 || d.Messages != 2 || d.Held != 1 ||
		!d.Oldest.Equal(first) {
		t.Errorf("domains = %+v, want 2 messages, 1 held, oldest %v",
			s.Domains, first)
	}
}
