package monitor

import (
	"fmt"
	"strings"
	"time"
	"unicode"

	"github.com/stratamail/continuity/conf"
)

// tracker is the state machine of one monitored primary: unknown, up
// or down, changed by a run of probes that disagree with the state.
type tracker struct {
	domain, relay string
	state         State
	since         time.Time
	// run counts the probes in a row that said runState, which is not
	// state; the first of them began at runStart.
	run      int
	runState State
	runStart time.Time
}

// change is a transition made by a probe: the new event and the state
// before it.
type change struct {
	ev        Event
	prev      State
	prevSince time.Time
}

// observe records the result of a probe begun at t; err is nil when
// the primary took the session. It returns the transition the probe
// completes, if any.
func (tr *tracker) observe(t time.Time, err error,
	mon conf.Monitor) (change, bool) {
	said, need := StateUp, mon.UpAfter
	if err != nil {
		said, need = StateDown, mon.DownAfter
	}
	if said == tr.state {
		tr.run = 0
		return change{}, false
	}
	if tr.run == 0 || tr.runState != said {
		tr.run, tr.runState, tr.runStart = 0, said, t
	}
	tr.run++
	if tr.run < need {
		return change{}, false
	}
	c := change{prev: tr.state, prevSince: tr.since, ev: Event{
		Time: tr.runStart, Domain: tr.domain, Relay: tr.relay,
		State: said, Reason: reason(err, tr.run)}}
	tr.state, tr.since, tr.run = said, tr.runStart, 0
	return c, true
}

// reset forgets a run in progress, as when the relay host changes.
func (tr *tracker) reset() { tr.run = 0 }

// reason says why a state was declared after n probes: the last
// probe's error, on one line and at most maxReason bytes, for down.
func reason(err error, n int) string {
	if err == nil {
		return fmt.Sprintf("answered %d probe(s) in a row", n)
	}
	return fmt.Sprintf("%d probe(s) failed in a row; last: %s", n,
		oneLine(err.Error()))
}

// maxReason bounds the error text kept in a reason.
const maxReason = 300

// oneLine replaces control characters in s (a relay host's reply may
// hold anything) with spaces and cuts it to maxReason bytes.
func oneLine(s string) string {
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return ' '
		}
		return r
	}, s)
	s = strings.TrimSpace(s)
	if len(s) > maxReason {
		s = strings.ToValidUTF8(s[:maxReason], "") + "…"
	}
	return s
}
