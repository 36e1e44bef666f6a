package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/stratamail/continuity/conf"
	"github.com/stratamail/continuity/relayq"
)

func runQueue(args []string, stdout, stderr io.Writer) error {
	if len(args) > 0 {
		switch args[0] {
		case "list":
			return runQueueList(args[1:], stdout, stderr)
		case "flush":
			return runQueueFlush(args[1:], stdout, stderr)
		}
	}
	fmt.Fprintf(stderr, "Usage: stratamail queue list|flush "+
		"[-config FILE] [-domain D]\n\n"+
		"  list   show the messages waiting for a primary\n"+
		"  flush  ask the running server to try them now\n")
	return errUsage
}

// queueCmd holds the flags the queue commands share.
type queueCmd struct {
	fs     *flag.FlagSet
	path   *string
	domain *string
}

func newQueueCmd(name, about string, stderr io.Writer) *queueCmd {
	fs := newFlagSet("queue "+name, "[-config FILE] [-domain D]",
		about, stderr)
	return &queueCmd{
		fs:     fs,
		path:   fs.String("config", defaultConfig, "the config `file`"),
		domain: fs.String("domain", "", "only this `domain` (default: all)"),
	}
}

// parse parses args and loads the config file.
func (q *queueCmd) parse(args []string) (*conf.Config, string, error) {
	if err := parseFlags(q.fs, args); err != nil {
		return nil, "", err
	}
	if q.fs.NArg() != 0 {
		q.fs.Usage()
		return nil, "", errUsage
	}
	cfg, err := conf.Load(*q.path)
	if err != nil {
		return nil, "", err
	}
	return cfg, strings.ToLower(*q.domain), nil
}

func runQueueList(args []string, stdout, stderr io.Writer) error {
	q := newQueueCmd("list", "List the messages waiting in the relay "+
		"queue, oldest first.", stderr)
	asJSON := q.fs.Bool("json", false, "print one JSON array of entries")
	cfg, domain, err := q.parse(args)
	if err != nil {
		return err
	}
	qdir := filepath.Join(cfg.Server.DataDir, "queue")
	entries, err := relayq.ReadDir(qdir, domain)
	if err != nil {
		return err
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if entries == nil {
			entries = []relayq.Entry{}
		}
		return enc.Encode(entries)
	}
	printQueue(stdout, entries, time.Now())
	return nil
}

// printQueue writes entries as a table an operator can read and grep.
func printQueue(w io.Writer, entries []relayq.Entry, now time.Time) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tDOMAIN\tSENDER\tRECIPIENTS\tSIZE\tAGE\t"+
		"ATTEMPTS\tNEXT\tLAST ERROR")
	for _, e := range entries {
		sender := e.Sender
		if sender == "" {
			sender = "<>"
		}
		next := "-"
		if e.Held {
			next = "held"
		} else if !e.NextAttempt.IsZero() {
			next = roundDur(e.NextAttempt.Sub(now)).String()
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%s\t%d\t%s\t%s\n",
			e.ID, e.Domain, sender, strings.Join(e.Recipients, ","),
			e.Size, roundDur(now.Sub(e.Arrived)), e.Attempts, next,
			e.LastError)
	}
	tw.Flush()
	fmt.Fprintf(w, "%d message(s)\n", len(entries))
}

func roundDur(d time.Duration) time.Duration {
	if d < 0 {
		return 0
	}
	return d.Round(time.Second)
}

func runQueueFlush(args []string, stdout, stderr io.Writer) error {
	q := newQueueCmd("flush", "Ask the running server to try delivering "+
		"the queued messages now.", stderr)
	cfg, domain, err := q.parse(args)
	if err != nil {
		return err
	}
	if domain != "" && cfg.Domain(domain) == nil &&
		!queued(cfg, domain) {
		return fmt.Errorf("%s is neither a configured domain nor in "+
			"the queue", domain)
	}
	err = callControl(cfg.Server.DataDir, controlRequest{
		Op: "flush", Domain: domain,
	})
	if err != nil {
		return err
	}
	what := "all domains"
	if domain != "" {
		what = domain
	}
	fmt.Fprintf(stdout, "flush of %s started; follow it with "+
		"\"stratamail queue list -config %s\" or the server log\n",
		what, cfg.Path)
	return nil
}

// queued reports whether the queue holds mail for domain, as it may for
// a domain removed from the config.
func queued(cfg *conf.Config, domain string) bool {
	qdir := filepath.Join(cfg.Server.DataDir, "queue")
	entries, err := relayq.ReadDir(qdir, domain)
	return err == nil && len(entries) > 0
}
