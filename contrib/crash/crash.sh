#!/usr/bin/env bash
# crash.sh: kill stratamail with SIGKILL at random moments while clients
# send it mail, many times over, then bring the primary up and count
# what reached it. Every message that got a 250 must arrive (lost = 0);
# duplicates are reported.
#
#   contrib/crash/crash.sh [RUNS]      (default 3 runs)
#
# Each run is TestCrashNoLoss (cmd/stratamail/crash_test.go) with a
# longer schedule: ROUNDS kills, SENDERS concurrent clients, each server
# life up to MAX_MS milliseconds. Everything stays on 127.0.0.1 and in
# temp folders the test removes.
set -euo pipefail
cd "$(dirname "$0")/../.."
runs=${1:-3}
export STRATAMAIL_CRASH_ROUNDS=${ROUNDS:-30}
export STRATAMAIL_CRASH_SENDERS=${SENDERS:-8}
export STRATAMAIL_CRASH_MAX_MS=${MAX_MS:-800}
echo "crash test: $runs run(s) of $STRATAMAIL_CRASH_ROUNDS kills," \
	"$STRATAMAIL_CRASH_SENDERS senders, lives up to $STRATAMAIL_CRASH_MAX_MS ms"
go test -count="$runs" -run '^TestCrashNoLoss$' -v -timeout 30m \
	./cmd/stratamail/ | grep -E '^(=== RUN|--- |\s+crash_test.go|PASS|FAIL|ok)'
