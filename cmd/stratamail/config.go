package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"

	"golang.org/x/term"

	"github.com/stratamail/continuity/conf"
)

func runCheckConfig(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("check-config", "FILE", "Validate FILE and print "+
		"every error as FILE:LINE: KEY: problem, and every\nwarning "+
		"as FILE:LINE: KEY: warning: problem.\nExits 0 when the "+
		"file is valid (warnings or not), 1 when it is not.", stderr)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		fs.Usage()
		return errUsage
	}
	cfg, err := conf.Load(fs.Arg(0))
	if err != nil {
		fmt.Fprintln(stderr, err)
		return errors.New("the configuration is not valid")
	}
	for _, w := range cfg.Warnings {
		fmt.Fprintln(stdout, w.(*conf.Error).Warning())
	}
	fmt.Fprintf(stdout, "%s: OK (%s, %s)\n", cfg.Path,
		count(len(cfg.Domains), "domain"), count(len(cfg.Users), "user"))
	return nil
}

// count says "1 domain", "2 domains".
func count(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

// logWarnings logs the warnings of cfg, one line each.
func logWarnings(log *slog.Logger, cfg *conf.Config) {
	for _, w := range cfg.Warnings {
		e := w.(*conf.Error)
		log.Warn("config warning", "file", e.File, "line", e.Line,
			"key", e.Key, "warning", e.Msg)
	}
}

func runHashPassword(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("hash-password", "[-argon2id]", "Read a password "+
		"from the terminal (asked twice) or from standard input (first "+
		"line)\nand print its hash for the password key of a [[user]] "+
		"entry.", stderr)
	argon := fs.Bool("argon2id", false, "make an argon2id hash instead "+
		"of bcrypt (slower to check at every login)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	pw, err := readPassword(stderr)
	if err != nil {
		return err
	}
	var hash string
	if *argon {
		hash, err = conf.HashArgon2id(pw)
	} else {
		hash, err = conf.HashPassword(pw)
	}
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout, hash)
	return nil
}

// readPassword asks twice on a terminal, or reads one line from a pipe.
func readPassword(prompt io.Writer) (string, error) {
	fd := int(os.Stdin.Fd())
	if !term.IsTerminal(fd) {
		line, err := bufio.NewReader(os.Stdin).ReadString('\n')
		if err != nil && !errors.Is(err, io.EOF) {
			return "", err
		}
		pw := strings.TrimRight(line, "\r\n")
		if pw == "" {
			return "", errors.New("no password on standard input")
		}
		return pw, nil
	}
	ask := func(text string) (string, error) {
		fmt.Fprint(prompt, text)
		b, err := term.ReadPassword(fd)
		fmt.Fprintln(prompt)
		return string(b), err
	}
	pw, err := ask("Password: ")
	if err != nil {
		return "", err
	}
	again, err := ask("Again: ")
	if err != nil {
		return "", err
	}
	if pw != again {
		return "", errors.New("the passwords differ")
	}
	if pw == "" {
		return "", errors.New("empty password")
	}
	return pw, nil
}
