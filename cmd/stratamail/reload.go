package main

import (
	"context"
	"errors"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"sync"
	"syscall"
	"time"

	"github.com/fsnotify/fsnotify"

	"github.com/stratamail/continuity/conf"
)

// Live reload. The config file is watched through its folder, not the
// file itself: editors save by writing a new file and renaming it over
// the old one, which ends a watch on the old file's inode. The folders
// of the TLS certificate and key are watched too, so a renewed
// certificate is served to new connections without a restart. Events
// are debounced (an editor's save is several events), and SIGHUP
// reloads at once.
//
// A reload builds a new snapshot and swaps it in whole. Connections
// keep the snapshot they started with; new ones take the new one. An
// invalid file is refused whole: the running snapshot stays, and the
// error is kept for the control socket's status answer.

// reloadDebounce is how long the watcher waits for a file to settle.
const reloadDebounce = 300 * time.Millisecond

// reloadState is what the operator is told about reloads.
type reloadState struct {
	mu sync.Mutex
	// loaded is when the running snapshot was loaded.
	loaded time.Time
	// failed and err describe the last refused reload since then.
	failed time.Time
	err    string
}

// ReloadStatus is the control socket's answer about the configuration.
type ReloadStatus struct {
	File      string    `json:"file"`
	Loaded    time.Time `json:"loaded"`
	Refused   time.Time `json:"refused,omitzero"`
	LastError string    `json:"last_error,omitempty"`
}

func (s *service) reloadStatus() ReloadStatus {
	s.reloads.mu.Lock()
	defer s.reloads.mu.Unlock()
	return ReloadStatus{File: s.config().Path, Loaded: s.reloads.loaded,
		Refused: s.reloads.failed, LastError: s.reloads.err}
}

// newWatcher starts watching the config file and the TLS files; nil
// when the system refuses (SIGHUP still reloads).
func (s *service) newWatcher() *fsnotify.Watcher {
	w, err := fsnotify.NewWatcher()
	if err != nil {
		s.log.Warn("cannot watch the config file; reload with SIGHUP",
			"err", err)
		return nil
	}
	s.watchFiles(w)
	return w
}

// watchReloads reloads on SIGHUP and on the changes w reports until ctx
// is done, then closes w.
func (s *service) watchReloads(ctx context.Context, w *fsnotify.Watcher) {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	var events <-chan fsnotify.Event
	var errs <-chan error
	if w != nil {
		defer w.Close()
		events, errs = w.Events, w.Errors
	}
	var settle <-chan time.Time
	for {
		select {
		case <-ctx.Done():
			return
		case <-hup:
			s.log.Info("SIGHUP: reloading the config")
			s.reload()
		case ev := <-events:
			if s.watched(ev) {
				settle = time.After(reloadDebounce)
			}
		case err := <-errs:
			// ErrEventOverflow means events were lost: one of them
			// may have been ours.
			s.log.Warn("config watch", "err", err)
			settle = time.After(reloadDebounce)
		case <-settle:
			settle = nil
			s.reload()
			s.watchFiles(w)
		}
	}
}

// watchedFiles returns the files whose change reloads the config.
func (s *service) watchedFiles() []string {
	cfg := s.config()
	files := []string{cfg.Path}
	if cfg.TLS.Cert != "" {
		files = append(files, cfg.TLS.Cert, cfg.TLS.Key)
	}
	for i, f := range files {
		if abs, err := filepath.Abs(f); err == nil {
			files[i] = abs
		}
	}
	return files
}

// watchFiles adds the folder of each watched file to w. Adding a folder
// twice is harmless; folders of files no longer watched stay, and their
// events are filtered out by watched.
func (s *service) watchFiles(w *fsnotify.Watcher) {
	if w == nil {
		return
	}
	for _, f := range s.watchedFiles() {
		dir := filepath.Dir(f)
		if slices.Contains(w.WatchList(), dir) {
			continue
		}
		if err := w.Add(dir); err != nil {
			s.log.Warn("cannot watch a config folder; reload with SIGHUP",
				"dir", dir, "err", err)
		}
	}
}

// watched reports whether ev changes one of the watched files. A
// change of permissions alone does not count.
func (s *service) watched(ev fsnotify.Event) bool {
	if ev.Op == fsnotify.Chmod {
		return false
	}
	name, err := filepath.Abs(ev.Name)
	if err != nil {
		return false
	}
	return slices.Contains(s.watchedFiles(), name)
}

// reload reads the config file again and swaps the snapshot in if it is
// valid. Settings bound at start-up (listeners, data_dir) keep their
// values until a restart, which is logged.
func (s *service) reload() {
	old := s.config()
	cfg, err := conf.Load(old.Path)
	if err != nil {
		s.refuse(old.Path, err)
		return
	}
	if keys := restartKeys(old, cfg); len(keys) > 0 {
		s.log.Warn("config: some changes take effect at the next "+
			"restart", "file", cfg.Path, "keys", keys)
	}
	s.cfg.Store(cfg)
	s.reloads.mu.Lock()
	s.reloads.loaded, s.reloads.failed, s.reloads.err = time.Now(),
		time.Time{}, ""
	s.reloads.mu.Unlock()
	s.log.Info("config reloaded", "file", cfg.Path,
		"domains", len(cfg.Domains), "users", len(cfg.Users))
	logWarnings(s.log, cfg)
	for _, d := range cfg.Domains {
		if o := old.Domain(d.Name); o != nil && o.Relay != d.Relay {
			// The new relay host may take the mail the old one could
			// not: try it now rather than at the next retry.
			s.log.Info("relay host changed; flushing the domain's queue",
				"domain", d.Name, "old", o.Relay, "relay", d.Relay)
			s.queue.Flush(d.Name)
		}
	}
}

// refuse records and logs a refused reload, one line per problem.
func (s *service) refuse(path string, err error) {
	s.reloads.mu.Lock()
	s.reloads.failed, s.reloads.err = time.Now(), err.Error()
	s.reloads.mu.Unlock()
	var errs conf.Errors
	if !errors.As(err, &errs) {
		s.log.Error("config reload refused; keeping the running config",
			"file", path, "err", err)
		return
	}
	for _, e := range errs {
		var ce *conf.Error
		if errors.As(e, &ce) {
			s.log.Error("config reload refused; keeping the running "+
				"config", "file", ce.File, "line", ce.Line,
				"key", ce.Key, "err", ce.Msg)
		}
	}
}

// restartKeys names the settings that differ between old and cfg but
// are only read at start-up.
func restartKeys(old, cfg *conf.Config) []string {
	var keys []string
	if !slices.Equal(old.SMTP.Listen, cfg.SMTP.Listen) {
		keys = append(keys, "smtp.listen")
	}
	if !slices.Equal(old.IMAP.Listen, cfg.IMAP.Listen) {
		keys = append(keys, "imap.listen")
	}
	if !slices.Equal(old.IMAP.TLSListen, cfg.IMAP.TLSListen) {
		keys = append(keys, "imap.tls_listen")
	}
	if !slices.Equal(old.Submission.Listen, cfg.Submission.Listen) {
		keys = append(keys, "submission.listen")
	}
	if !slices.Equal(old.Submission.TLSListen, cfg.Submission.TLSListen) {
		keys = append(keys, "submission.tls_listen")
	}
	if old.IMAP.AllowInsecureAuth != cfg.IMAP.AllowInsecureAuth {
		keys = append(keys, "imap.allow_insecure_auth")
	}
	if old.Portal.Listen != cfg.Portal.Listen {
		keys = append(keys, "portal.listen")
	}
	if old.Server.DataDir != cfg.Server.DataDir {
		keys = append(keys, "server.data_dir")
	}
	if (old.TLS.Certificate == nil) != (cfg.TLS.Certificate == nil) {
		keys = append(keys, "tls")
	}
	return keys
}
