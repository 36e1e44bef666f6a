#!/usr/bin/env bash
# Runs every go test -fuzz target of the repository for a while each.
# Usage: contrib/fuzz.sh [BUDGET]   (default 30s per target)
# BUDGET is -fuzztime's: a duration ("30s") or a count of inputs
# ("5000x"). CI uses a count: go1.26's fuzzing coordinator may fail a
# duration-bound run with a bare "context deadline exceeded" and no
# crasher when the machine is loaded (go.dev/issue/75804, fixed in
# go1.27); a count has no deadline to race.
set -euo pipefail
cd "$(dirname "$0")/.."
dur=${1:-30s}
for pkg in $(go list ./...); do
	dir=$(go list -f '{{.Dir}}' "$pkg")
	for t in $(grep -ho '^func Fuzz[A-Za-z0-9_]*' "$dir"/*_test.go \
		2>/dev/null | sed 's/^func //'); do
		echo "fuzz $pkg $t for $dur"
		go test -run='^$' -fuzz="^$t\$" -fuzztime="$dur" "$pkg"
	done
done
