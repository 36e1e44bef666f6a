// Command stratamail runs StrataMail Continuity, a mail server that keeps
// a company's email flowing while its own server is down, and offers the
// operator's tools around it.
//
// Run "stratamail help" for the commands.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime/debug"
	"sort"
)

// command is one subcommand of stratamail.
type command struct {
	name    string
	summary string
	run     func(args []string, stdout, stderr io.Writer) error
}

// commands lists the subcommands; help prints them in this order.
var commands = []command{
	{"serve", "run the mail service from a config file", runServe},
	{"demo", "run the whole service on loopback with a demo config",
		runDemo},
	{"check-config", "validate a config file and report every error",
		runCheckConfig},
	{"hash-password", "hash a password for a [[user]] entry",
		runHashPassword},
	{"queue", "the queue: list, show, flush, delete, hold, release",
		runQueue},
	{"status", "show each primary's state, uptime, outages and queue",
		runStatus},
	{"sink", "a test primary: accept all mail on an address and log it",
		runSink},
	{"version", "print the version and build information", runVersion},
	{"help", "describe the commands", nil},
}

// errUsage asks main to exit with status 2 after the flag package has
// already printed the usage text.
var errUsage = errors.New("usage")

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// run dispatches to a subcommand and returns the exit status.
func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" ||
		args[0] == "--help" || args[0] == "-help" {
		usage(stdout)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	for _, c := range commands {
		if c.name != args[0] || c.run == nil {
			continue
		}
		err := c.run(args[1:], stdout, stderr)
		switch {
		case err == nil, errors.Is(err, flag.ErrHelp):
			return 0
		case errors.Is(err, errUsage):
			return 2
		default:
			fmt.Fprintf(stderr, "stratamail %s: %v\n", c.name, err)
			return 1
		}
	}
	fmt.Fprintf(stderr, "stratamail: unknown command %q "+
		"(run \"stratamail help\")\n", args[0])
	return 2
}

func usage(w io.Writer) {
	fmt.Fprintf(w, "StrataMail Continuity: mail continuity while a "+
		"primary mail server is down.\n\nUsage: stratamail COMMAND "+
		"[flags]\n\nCommands:\n")
	for _, c := range commands {
		fmt.Fprintf(w, "  %-14s %s\n", c.name, c.summary)
	}
	fmt.Fprintf(w, "\nRun \"stratamail COMMAND -h\" for a command's flags.\n")
}

// newFlagSet returns a flag set for a subcommand whose usage text names
// the command, its arguments and what it does.
func newFlagSet(name, args, about string, out io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(out)
	fs.Usage = func() {
		fmt.Fprintf(out, "Usage: stratamail %s %s\n\n%s\n", name, args,
			about)
		var n int
		fs.VisitAll(func(*flag.Flag) { n++ })
		if n > 0 {
			fmt.Fprintf(out, "\nFlags:\n")
			fs.PrintDefaults()
		}
	}
	return fs
}

// parseFlags parses args, turning a bad flag into errUsage.
func parseFlags(fs *flag.FlagSet, args []string) error {
	err := fs.Parse(args)
	if err != nil && !errors.Is(err, flag.ErrHelp) {
		return errUsage
	}
	return err
}

// version is set at link time with -ldflags "-X main.version=v1.2.3".
var version = "devel"

func runVersion(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("version", "", "Print the version and build "+
		"information.", stderr)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "stratamail %s\n", version)
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return nil
	}
	fmt.Fprintf(stdout, "go: %s\n", bi.GoVersion)
	settings := map[string]string{}
	for _, s := range bi.Settings {
		settings[s.Key] = s.Value
	}
	keys := []string{"vcs.revision", "vcs.time", "vcs.modified",
		"GOOS", "GOARCH"}
	sort.Strings(keys)
	for _, k := range keys {
		if v, ok := settings[k]; ok {
			fmt.Fprintf(stdout, "%s: %s\n", k, v)
		}
	}
	return nil
}
