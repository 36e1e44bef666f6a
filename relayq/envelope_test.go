package relayq

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

func sampleEnvelope() *envelope {
	t0 := time.Date(2025, 1, 2, 3, 4, 5, 123456789, time.UTC)
	return &envelope{
		Version: formatVersion, ID: "18a6f0c2d3e4b5a6-9f8e7d6c",
		Domain: "example.test", Relay: "127.0.0.1:2525",
		Sender: "s@elsewhere.test",
		Rcpts: []rcpt{
			{Addr: "a@example.test", State: stateDone, Reply: "250 ok"},
			{Addr: "b@example.test", State: statePending},
			{Addr: "c@example.test", State: stateFailed,
				Reply: "550 5.1.1 no"},
		},
		Arrived: t0, Attempts: 2, NextAttempt: t0.Add(time.Minute),
		LastError: "451 later",
	}
}

func TestEnvelopeRoundTrip(t *testing.T) {
	e := sampleEnvelope()
	data, err := e.marshal()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasSuffix(data, []byte("}\n")) ||
		bytes.Count(data, []byte("\n")) != 1 {
		t.Errorf("record is not one line: %q", data)
	}
	got, err := parseEnvelope(data)
	if err != nil {
		t.Fatal(err)
	}
	again, _ := got.marshal()
	if !bytes.Equal(data, again) {
		t.Errorf("round trip changed the record:\n%s%s", data, again)
	}
}

func TestParseEnvelopeRefuses(t *testing.T) {
	good, _ := sampleEnvelope().marshal()
	rec := string(good)
	tests := map[string]string{
		"empty":      "",
		"truncated":  rec[:len(rec)-10],
		"not an obj": "[1,2]",
		"version 0":  strings.Replace(rec, `"version":1`, `"version":0`, 1),
		"path id":    strings.Replace(rec, `"id":"18a6`, `"id":"../x`, 1),
		"no domain":  strings.Replace(rec, `"example.test"`, `""`, 1),
		"bad state":  strings.Replace(rec, `"pending"`, `"maybe"`, 1),
		"CR in rcpt": strings.Replace(rec, `"b@example`, `"b\r@example`, 1),
		"no rcpts":   strings.Replace(rec, `"recipients":[`, `"x":[`, 1),
		"trailing":   rec + "{}",
		"neg attempts": strings.Replace(rec, `"attempts":2`,
			`"attempts":-1`, 1),
	}
	for name, data := range tests {
		if _, err := parseEnvelope([]byte(data)); err == nil {
			t.Errorf("%s: parsed %q", name, data)
		}
	}
}

// FuzzParseEnvelope checks that the record parser never panics and that
// whatever it accepts survives a write and a read unchanged.
func FuzzParseEnvelope(f *testing.F) {
	good, _ := sampleEnvelope().marshal()
	f.Add(good)
	f.Add([]byte(`{"version":1,"id":"a","domain":"d","sender":"",` +
		`"recipients":[{"addr":"x","state":"pending"}],` +
		`"arrived":"2025-01-01T00:00:00+01:00","attempts":0,` +
		`"next_attempt":"0001-01-01T00:00:00Z"}`))
	f.Add([]byte(`{"version":1}`))
	f.Add([]byte("{"))
	f.Fuzz(func(t *testing.T, data []byte) {
		e, err := parseEnvelope(data)
		if err != nil {
			return
		}
		m1, err := e.marshal()
		if err != nil {
			t.Fatalf("marshal of a parsed record: %v", err)
		}
		e2, err := parseEnvelope(m1)
		if err != nil {
			t.Fatalf("reparse of %q: %v", m1, err)
		}
		m2, _ := e2.marshal()
		if !bytes.Equal(m1, m2) {
			t.Fatalf("unstable record:\n%s%s", m1, m2)
		}
	})
}

// TestEnvelopeVersions checks the compatibility rules of version 2:
// relay entries stay version 1 (an older reader loads them), outbound
// ones are version 2 with their route, and the two never mix.
func TestEnvelopeVersions(t *testing.T) {
	v1, _ := sampleEnvelope().marshal()
	out := sampleEnvelope()
	out.Route = routeOutbound
	v2, _ := out.marshal()
	if !bytes.Contains(v1, []byte(`{"version":1,`)) ||
		bytes.Contains(v1, []byte(`"route"`)) {
		t.Errorf("relay record: %s", v1)
	}
	if !bytes.Contains(v2, []byte(`{"version":2,`)) ||
		!bytes.Contains(v2, []byte(`"route":"outbound"`)) {
		t.Errorf("outbound record: %s", v2)
	}
	tests := []struct {
		name string
		rec  string
		ok   bool
	}{
		{"version 1", string(v1), true},
		{"version 2", string(v2), true},
		{"route in version 1", strings.Replace(string(v2),
			`"version":2`, `"version":1`, 1), false},
		{"version 2 without route", strings.Replace(string(v1),
			`"version":1`, `"version":2`, 1), false},
		{"unknown route", strings.Replace(string(v2), `"outbound"`,
			`"sideways"`, 1), false},
		{"version 3", strings.Replace(string(v2), `"version":2`,
			`"version":3`, 1), false},
	}
	for _, tc := range tests {
		e, err := parseEnvelope([]byte(tc.rec))
		if (err == nil) != tc.ok {
			t.Errorf("%s: err %v", tc.name, err)
		}
		if err == nil && e.outbound() != (e.Version == 2) {
			t.Errorf("%s: outbound %v", tc.name, e.outbound())
		}
	}
}
