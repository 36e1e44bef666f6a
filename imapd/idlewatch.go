package imapd

import (
	"log/slog"
	"net"
	"path/filepath"
	"sync"

	"github.com/fsnotify/fsnotify"
)

// idleWatch tells IDLE sessions when a folder's new/ or cur/ changes
// (a delivery, a flag change or expunge by another session or tool),
// so that new mail is announced at once rather than at the next poll.
//
// One inotify instance serves the whole server (Linux allows a user 128
// instances by default, too few for one per IDLE session); each folder
// is watched while at least one session idles in it. When the watcher
// cannot be made or a watch cannot be added, sessions fall back to
// polling alone (Options.IdlePoll), which they do anyway as a safety
// net.
type idleWatch struct {
	log *slog.Logger

	mu   sync.Mutex
	w    *fsnotify.Watcher // nil until first used, or when it failed
	err  error             // why there is no watcher
	subs map[string]map[chan struct{}]bool
}

// subscribe returns a channel that receives a value (without blocking
// the sender; at most one waits) when folder dir changes, and a
// function to call when done. ok is false when dir cannot be watched.
func (iw *idleWatch) subscribe(dir string) (<-chan struct{}, func(), bool) {
	iw.mu.Lock()
	defer iw.mu.Unlock()
	if iw.w == nil && iw.err == nil {
		iw.w, iw.err = fsnotify.NewWatcher()
		if iw.err != nil {
			iw.log.Warn("IDLE falls back to polling", "err", iw.err)
		} else {
			iw.subs = map[string]map[chan struct{}]bool{}
			go iw.run(iw.w)
		}
	}
	if iw.w == nil {
		return nil, func() {}, false
	}
	if iw.subs[dir] == nil {
		for _, sub := range []string{"new", "cur"} {
			if err := iw.w.Add(filepath.Join(dir, sub)); err != nil {
				iw.log.Warn("IDLE cannot watch a folder; polling",
					"dir", dir, "err", err)
				iw.w.Remove(filepath.Join(dir, "new"))
				return nil, func() {}, false
			}
		}
		iw.subs[dir] = map[chan struct{}]bool{}
	}
	ch := make(chan struct{}, 1)
	iw.subs[dir][ch] = true
	return ch, func() { iw.unsubscribe(dir, ch) }, true
}

func (iw *idleWatch) unsubscribe(dir string, ch chan struct{}) {
	iw.mu.Lock()
	defer iw.mu.Unlock()
	delete(iw.subs[dir], ch)
	if len(iw.subs[dir]) == 0 && iw.w != nil {
		delete(iw.subs, dir)
		iw.w.Remove(filepath.Join(dir, "new"))
		iw.w.Remove(filepath.Join(dir, "cur"))
	}
}

// run passes the watcher's events on until it is closed.
func (iw *idleWatch) run(w *fsnotify.Watcher) {
	for {
		select {
		case ev, ok := <-w.Events:
			if !ok {
				return
			}
			iw.notify(filepath.Dir(filepath.Dir(ev.Name)))
		case err, ok := <-w.Errors:
			if !ok {
				return
			}
			// An overflow loses events, not the watch: tell everyone.
			iw.log.Warn("IDLE watcher", "err", err)
			iw.notifyAll()
		}
	}
}

func (iw *idleWatch) notify(dir string) {
	iw.mu.Lock()
	defer iw.mu.Unlock()
	for ch := range iw.subs[dir] {
		poke(ch)
	}
}

func (iw *idleWatch) notifyAll() {
	iw.mu.Lock()
	defer iw.mu.Unlock()
	for _, chans := range iw.subs {
		for ch := range chans {
			poke(ch)
		}
	}
}

// poke sends on ch unless a value already waits there.
func poke(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

// close stops the watcher.
func (iw *idleWatch) close() {
	iw.mu.Lock()
	defer iw.mu.Unlock()
	if iw.w != nil {
		iw.w.Close()
		iw.w = nil
	}
	iw.err = net.ErrClosed
}
