package relayq

import (
	"errors"
	"fmt"
	"os"
)

// The operator's actions on single entries, beside Remove, Release and
// Flush in queue.go.

// ErrBusy is returned for an entry a worker is delivering right now.
var ErrBusy = errors.New("relayq: the entry is being delivered now; " +
	"try again in a moment")

// Hold stops retries of an entry until Release. An entry that is being
// delivered cannot be held (the attempt's outcome would overwrite the
// hold): Hold returns ErrBusy.
func (q *Queue) Hold(id string) error {
	return q.change(id, "held by operator", func(it *item) (*envelope,
		error) {
		if it.env.Held {
			return nil, nil
		}
		next := it.env.clone()
		next.Held = true
		return next, nil
	})
}

// Retry makes one entry due now, as Flush does for a domain; an entry
// being delivered already is left to that attempt. A held entry stays
// held: Release it instead.
func (q *Queue) Retry(id string) error {
	err := q.change(id, "", func(it *item) (*envelope, error) {
		if it.env.Held {
			return nil, fmt.Errorf("relayq: %s is held: release it",
				id)
		}
		next := it.env.clone()
		next.NextAttempt = q.clock.Now()
		return next, nil
	})
	if errors.Is(err, ErrBusy) {
		return nil
	}
	if err == nil {
		q.kick()
	}
	return err
}

// change replaces an idle entry's envelope with the one edit returns,
// writing the record first. edit runs under q.mu and must not block; a
// nil envelope from it means nothing to do. A non-empty why is logged.
func (q *Queue) change(id, why string, edit func(*item) (*envelope,
	error)) error {
	q.mu.Lock()
	it := q.items[id]
	if it == nil {
		q.mu.Unlock()
		return ErrNotFound
	}
	if it.busy {
		q.mu.Unlock()
		return ErrBusy
	}
	next, err := edit(it)
	q.mu.Unlock()
	if err != nil || next == nil {
		return err
	}
	it.fileMu.Lock()
	defer it.fileMu.Unlock()
	if it.gone {
		return ErrNotFound
	}
	if why != "" {
		// Only held and released entries change the record's
		// meaning; Retry's due time lives in memory, as Flush's does.
		if err := writeEnvelope(q.dir, next); err != nil {
			return fmt.Errorf("relayq: %s: %w", id, err)
		}
		q.log.Info("queue entry "+why, "id", id, "domain", next.Domain)
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	if it.busy {
		// A worker took the entry while the record was written; its
		// outcome will replace the envelope.
		return ErrBusy
	}
	it.env = next
	return nil
}

// ReadEntry returns the entry id of the queue folder dir, reading only
// its files, and the message's header section (see readHeader), as the
// operator's "queue show" prints them.
func ReadEntry(dir, id string) (Entry, []byte, error) {
	if !validID(id) {
		return Entry{}, nil, ErrNotFound
	}
	env, err := readEnvelope(envPath(dir, id))
	if errors.Is(err, os.ErrNotExist) {
		return Entry{}, nil, ErrNotFound
	} else if err != nil {
		return Entry{}, nil, fmt.Errorf("relayq: %s: %w", id, err)
	}
	fi, err := os.Stat(msgPath(dir, id))
	if errors.Is(err, os.ErrNotExist) {
		return Entry{}, nil, ErrNotFound
	} else if err != nil {
		return Entry{}, nil, fmt.Errorf("relayq: %w", err)
	}
	hdr, err := readHeader(msgPath(dir, id))
	if err != nil {
		return Entry{}, nil, fmt.Errorf("relayq: %s: %w", id, err)
	}
	return env.entry(fi.Size()), hdr, nil
}
