#!/usr/bin/env bash
# Runs every go test -fuzz target of the repository for a while each.
# Usage: contrib/fuzz.sh [DURATION]   (default 30s per target)
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
