package main

import (
	"cmp"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
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
		case "show":
			return runQueueShow(args[1:], stdout, stderr)
		case "flush", "delete", "hold", "release":
			return runQueueOp(args[0], args[1:], stdout, stderr)
		}
	}
	fmt.Fprintf(stderr, "Usage: stratamail queue COMMAND "+
		"[-config FILE] [-domain D] [ID ...]\n\n"+
		"  list     show the messages waiting in the queue\n"+
		"  show     show one message's envelope and headers\n"+
		"  flush    try the messages now (all, a domain's, or IDs)\n"+
		"  delete   delete messages from the queue (IDs, or a domain's)\n"+
		"  hold     stop retrying messages until released\n"+
		"  release  retry held messages, permanent failures included\n")
	return errUsage
}

// queueCmd holds the flags the queue commands share.
type queueCmd struct {
	fs      *flag.FlagSet
	path    *string
	dataDir *string
	domain  *string
}

// newQueueCmd returns the flags of a queue command; -domain only when
// its usage line args names it.
func newQueueCmd(name, args, about string, stderr io.Writer) *queueCmd {
	fs := newFlagSet("queue "+name, args, about, stderr)
	q := &queueCmd{fs: fs,
		path: fs.String("config", defaultConfig, "the config `file`"),
		dataDir: fs.String("data-dir", "", "the data `folder`, "+
			"instead of the config file's (for a config file with errors)"),
	}
	if strings.Contains(args, "-domain") {
		q.domain = fs.String("domain", "", "only this `domain` "+
			"(default: all)")
	}
	return q
}

// parse parses args, which take no operands, and loads the config file.
func (q *queueCmd) parse(args []string) (*conf.Config, string, error) {
	return q.parseIDs(args, 0, 0)
}

// parseIDs parses args, which take min to max operands (IDs; max < 0
// for no limit), and loads the config file.
func (q *queueCmd) parseIDs(args []string, min, max int) (*conf.Config,
	string, error) {
	if err := parseFlags(q.fs, args); err != nil {
		return nil, "", err
	}
	n := q.fs.NArg()
	if n < min || max >= 0 && n > max {
		q.fs.Usage()
		return nil, "", errUsage
	}
	var cfg *conf.Config
	var err error
	if *q.dataDir != "" {
		// The queue needs nothing of the file but the data folder.
		cfg = &conf.Config{Path: *q.path,
			Server: conf.Server{DataDir: *q.dataDir}}
	} else if cfg, err = conf.Load(*q.path); err != nil {
		return nil, "", fmt.Errorf("%w\n(with -data-dir the queue "+
			"commands work without the config file)", err)
	}
	domain := ""
	if q.domain != nil {
		domain = strings.ToLower(*q.domain)
	}
	return cfg, domain, nil
}

func runQueueList(args []string, stdout, stderr io.Writer) error {
	q := newQueueCmd("list", "[-config FILE] [-domain D] [-json]", "List the messages waiting in the relay "+
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
	fmt.Fprintln(tw, "ID\tDOMAIN\tROUTE\tSENDER\tRECIPIENTS\tSIZE\tAGE\t"+
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
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d\t%s\t%d\t%s\t%s\n",
			e.ID, e.Domain, e.Route, sender, strings.Join(e.Recipients, ","),
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

// queueOps describes the commands that change the queue.
var queueOps = map[string]struct {
	usage, about, verb, done string
	anyDomain                bool // acts on every domain when none is named
}{
	"flush": {"[-domain D] [-wait] [ID ...]", "Ask the running server " +
		"to try delivering queued messages now: all of them, a " +
		"domain's, or the IDs named. Held messages stay held. -wait " +
		"follows the flush, a line per change, until it is done.",
		"flush", "flushing",
		true},
	"delete": {"-domain D | ID ...", "Delete messages from the queue: " +
		"the IDs named, or every message of a domain. The copies in " +
		"shadow mailboxes stay.", "delete", "deleted", false},
	"hold": {"ID ...", "Stop retrying the messages named until they are " +
		"released.", "hold", "held", false},
	"release": {"ID ...", "Retry held messages now, including recipients " +
		"the primary refused permanently.", "release", "released",
		false},
}

func runQueueOp(op string, args []string, stdout,
	stderr io.Writer) error {
	spec := queueOps[op]
	q := newQueueCmd(op, "[-config FILE] "+spec.usage, spec.about, stderr)
	var wait *bool
	if op == "flush" {
		wait = q.fs.Bool("wait", false, "follow the flush until the "+
			"queue is empty or stops moving")
	}
	cfg, domain, err := q.parseIDs(args, 0, -1)
	if err != nil {
		return err
	}
	ids := q.fs.Args()
	switch {
	case len(ids) > 0 && domain != "":
		fmt.Fprintf(stderr, "stratamail queue %s: name IDs or -domain, "+
			"not both\n", op)
		return errUsage
	case len(ids) == 0 && domain == "" && !spec.anyDomain:
		q.fs.Usage()
		return errUsage
	}
	if domain != "" && cfg.Domain(domain) == nil && !queued(cfg, domain) {
		return fmt.Errorf("%s is neither a configured domain nor in "+
			"the queue", domain)
	}
	req := controlRequest{Op: op, Domain: domain, IDs: ids}
	reply, err := callControl(cfg.Server.DataDir, req)
	if errors.Is(err, errNotRunning) && op != "flush" {
		// No server owns the queue: act on its files directly.
		reply, err = queueOpOffline(cfg, req)
	}
	if err != nil {
		return err
	}
	what := fmt.Sprintf("%d message(s)", reply.Count)
	if op == "flush" && len(ids) == 0 {
		what = cmp.Or(domain, "all domains") + ": " + what
	}
	fmt.Fprintf(stdout, "%s %s\n", spec.done, what)
	for _, f := range reply.Failed {
		fmt.Fprintf(stderr, "cannot %s %s\n", spec.verb, f)
	}
	if op == "flush" && *wait && len(ids) == 0 {
		followFlush(stdout, cfg, domain, reply.Count, time.Second,
			flushStall)
	} else if op == "flush" {
		fmt.Fprintf(stdout, "follow it with \"stratamail queue list "+
			"-config %s\" or the server log\n", cfg.Path)
	}
	if len(reply.Failed) > 0 {
		return fmt.Errorf("could not %s %d of %d message(s)", spec.verb,
			len(reply.Failed), len(reply.Failed)+reply.Count)
	}
	return nil
}

// queueOpOffline opens the queue folder of a stopped server and acts on
// it.
//
// TODO: a server started while this runs would load the queue at the
// same time; the control socket tells a running server from a stopped
// one, but nothing locks the folder against a start in between.
func queueOpOffline(cfg *conf.Config, req controlRequest) (controlReply,
	error) {
	qdir := filepath.Join(cfg.Server.DataDir, "queue")
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	q, err := relayq.Open(qdir, relayq.Options{
		Config: func() *conf.Config { return cfg }, Logger: log,
	})
	if err != nil {
		return controlReply{}, err
	}
	reply := queueOp(q, req)
	if !reply.OK {
		return reply, errors.New(reply.Error)
	}
	return reply, nil
}

func runQueueShow(args []string, stdout, stderr io.Writer) error {
	q := newQueueCmd("show", "[-config FILE] [-json] ID", "Show a "+
		"queued message's envelope and headers.", stderr)
	asJSON := q.fs.Bool("json", false, "print the entry as JSON")
	cfg, _, err := q.parseIDs(args, 1, 1)
	if err != nil {
		return err
	}
	qdir := filepath.Join(cfg.Server.DataDir, "queue")
	e, hdr, err := relayq.ReadEntry(qdir, q.fs.Arg(0))
	if err != nil {
		return err
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(struct {
			relayq.Entry
			Header string `json:"header"`
		}{e, string(hdr)})
	}
	printEntry(stdout, e, hdr, time.Now())
	return nil
}

// printEntry writes one entry and its header section.
func printEntry(w io.Writer, e relayq.Entry, hdr []byte, now time.Time) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	next := e.NextAttempt.Format(time.RFC3339)
	if e.Held {
		next = "held"
	}
	for _, row := range [][2]string{
		{"id", e.ID}, {"domain", e.Domain},
		{"sender", cmp.Or(e.Sender, "<>")},
		{"recipients", strings.Join(e.Recipients, ", ")},
		{"failed", strings.Join(e.Failed, ", ")},
		{"size", fmt.Sprint(e.Size)},
		{"arrived", e.Arrived.Format(time.RFC3339) + " (" +
			roundDur(now.Sub(e.Arrived)).String() + " ago)"},
		{"attempts", fmt.Sprint(e.Attempts)},
		{"next attempt", next}, {"last error", e.LastError},
	} {
		if row[1] != "" {
			fmt.Fprintf(tw, "%s:\t%s\n", row[0], row[1])
		}
	}
	tw.Flush()
	fmt.Fprintf(w, "\n%s", strings.ReplaceAll(string(hdr), "\r\n", "\n"))
}

// queued reports whether the queue holds mail for domain, as it may for
// a domain removed from the config.
func queued(cfg *conf.Config, domain string) bool {
	qdir := filepath.Join(cfg.Server.DataDir, "queue")
	entries, err := relayq.ReadDir(qdir, domain)
	return err == nil && len(entries) > 0
}

// flushStall is how long "queue flush -wait" waits for a message to
// leave before it says the flush has stopped.
const flushStall = time.Minute

// followFlush prints a line each time the number of messages left in
// domain's queue ("" for all) changes, until none is left or none has
// left for stall: the primary defers or is down again.
func followFlush(w io.Writer, cfg *conf.Config, domain string, left int,
	every, stall time.Duration) {
	qdir := filepath.Join(cfg.Server.DataDir, "queue")
	what := cmp.Or(domain, "all domains")
	start, moved := time.Now(), time.Now()
	for left > 0 && time.Since(moved) < stall {
		time.Sleep(every)
		entries, err := relayq.ReadDir(qdir, domain)
		if err != nil {
			fmt.Fprintf(w, "cannot read the queue: %v\n", err)
			return
		}
		n := 0
		for _, e := range entries {
			if !e.Held {
				n++
			}
		}
		if n != left {
			fmt.Fprintf(w, "%s: %d message(s) left after %s\n", what, n,
				time.Since(start).Round(time.Second))
			left, moved = n, time.Now()
		}
	}
	if left == 0 {
		fmt.Fprintf(w, "%s: flushed in %s\n", what,
			time.Since(start).Round(time.Second))
		return
	}
	fmt.Fprintf(w, "%s: %d message(s) still queued; none left in the "+
		"last %s (see \"stratamail queue list\" for the last errors)\n",
		what, left, stall)
}
