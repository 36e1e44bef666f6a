package main

import (
	"errors"
	"log/slog"
	"path/filepath"

	"github.com/stratamail/continuity/conf"
	"github.com/stratamail/continuity/monitor"
	"github.com/stratamail/continuity/relayq"
)

// monitorDir is the monitor's folder under data_dir.
func monitorDir(dataDir string) string {
	return filepath.Join(dataDir, "monitor")
}

// newMonitor sets up the monitoring of primaries: a recovery flushes the
// domain's queue at once.
func newMonitor(dataDir string, config func() *conf.Config,
	q *relayq.Queue, log *slog.Logger) (*monitor.Monitor, error) {
	return monitor.New(monitor.Options{
		Config:     config,
		Dir:        monitorDir(dataDir),
		Logger:     log,
		OnRecovery: q.Flush,
		SendMail:   sendAlertMail,
	})
}

// errNoOutboundRoute is what alert emails fail with for now.
var errNoOutboundRoute = errors.New("no outbound route yet")

// sendAlertMail sends an alert email.
//
// TODO: hand the message to relayq's outbound route (smarthost or MX)
// once the outbound-route branch is merged; until then every alert email
// fails, is retried and is logged as "alert not sent". Webhook alerts
// work.
func sendAlertMail(from string, to []string, msg []byte) error {
	return errNoOutboundRoute
}
