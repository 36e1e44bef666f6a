package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stratamail/continuity/conf"
)

// tomlBlocks returns the contents of every ```toml fenced block in the
// Markdown text, with the line each block starts on.
func tomlBlocks(text string) (blocks []string, lines []int) {
	var cur []string
	in, start := false, 0
	for i, line := range strings.Split(text, "\n") {
		trimmed := strings.TrimSpace(line)
		switch {
		case !in && trimmed == "```toml":
			in, start, cur = true, i+2, nil
		case in && trimmed == "```":
			blocks = append(blocks, strings.Join(cur, "\n")+"\n")
			lines = append(lines, start)
			in = false
		case in:
			cur = append(cur, line)
		}
	}
	return blocks, lines
}

// TestDocsConfigs checks every TOML example in README.md and the filter
// guides with check-config, so the documentation cannot drift from
// what the server accepts. README's example carries the placeholder
// hash "$2a$10$..."; it is replaced by a real hash before the check
// rather than the block being skipped.
func TestDocsConfigs(t *testing.T) {
	guides, err := filepath.Glob("../../contrib/filters/*.md")
	if err != nil {
		t.Fatal(err)
	}
	if len(guides) == 0 {
		t.Fatal("no guides in contrib/filters")
	}
	hash, err := conf.HashPassword("docs-test")
	if err != nil {
		t.Fatal(err)
	}
	for _, doc := range append(guides, "../../README.md") {
		data, err := os.ReadFile(doc)
		if err != nil {
			t.Fatal(err)
		}
		blocks, lines := tomlBlocks(string(data))
		if len(blocks) == 0 {
			t.Errorf("%s has no ```toml block", doc)
		}
		for i, b := range blocks {
			name := fmt.Sprintf("%s:%d", filepath.Base(doc), lines[i])
			t.Run(name, func(t *testing.T) {
				b = strings.ReplaceAll(b, `"$2a$10$..."`,
					`"`+hash+`"`)
				path := filepath.Join(t.TempDir(), "stratamail.toml")
				if err := os.WriteFile(path, []byte(b), 0o600); err != nil {
					t.Fatal(err)
				}
				runCLI(t, 0, "check-config", path)
			})
		}
	}
}
