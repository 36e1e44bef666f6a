#!/usr/bin/env bash
# contrib/e2e/quickstart.sh: the README's quick start, as a newcomer
# follows it. Runs `go run ./cmd/stratamail demo` (on free loopback
# ports), then every command the demo prints, in order, as printed:
# swaks and Python to send, curl and Python to read over IMAP, the queue
# listing, a reply through submission, the stand-in primary and a flush.
# Fails if any command fails, if the first message read back over IMAP
# is not the one swaks sent, or if the queue does not drain once the
# primary is up.
# Needs Go, swaks, curl and python3 (contrib/install-peers.sh). 127.0.0.1
# only.
set -euo pipefail
repo=$(cd "$(dirname "$0")/../.." && pwd)
log() { printf '%s\n' "quickstart: $*" >&2; }
die() { log "FATAL: $*"; exit 1; }
. "$repo/contrib/lib.sh"
cd "$repo"

for c in swaks curl python3; do
	command -v "$c" >/dev/null || die "$c is not installed"
done
tmp=$(mktemp -d /tmp/stratamail-quickstart.XXXXXX)
demo_pid=
sink_pid=
cleanup() {
	local rc=$?
	set +e
	[ -n "$sink_pid" ] && stop_group "$sink_pid"
	[ -n "$demo_pid" ] && stop_group "$demo_pid"
	[ "$rc" = 0 ] || tail -n 30 "$tmp/demo.log" >&2
	rm -rf "$tmp"
	exit "$rc"
}
trap cleanup EXIT

# Build once, so that the demo's own "go run" lines start fast.
go build -o "$tmp/stratamail" ./cmd/stratamail
free_port smtp
free_port imap
free_port sub
free_port relay
free_port portal
# In a process group of its own (setsid), so that cleanup stops the
# program "go run" built too.
setsid go run ./cmd/stratamail demo -dir "$tmp/demo" -smtp "127.0.0.1:$smtp" \
	-imap "127.0.0.1:$imap" -submission "127.0.0.1:$sub" \
	-relay "127.0.0.1:$relay" -portal "127.0.0.1:$portal" \
	>"$tmp/demo.out" 2>"$tmp/demo.log" &
demo_pid=$!
wait_demo "$demo_pid" "$tmp/demo.out" "$tmp/demo.log"

# The commands are the indented lines of the demo's instructions.
mapfile -t cmds < <(sed -n 's/^     \(swaks\|python3\|curl\|go run\)/\1/p' \
	"$tmp/demo.out")
[ "${#cmds[@]}" -ge 7 ] || die "only ${#cmds[@]} commands in the demo's text"
for cmd in "${cmds[@]}"; do
	log "\$ ${cmd:0:100}"
	case $cmd in
	*" sink -listen "*)
		setsid bash -c "$cmd" >"$tmp/sink.out" 2>&1 &
		sink_pid=$!
		for _ in $(seq 100); do
			grep -q 'accepting all mail' "$tmp/sink.out" 2>/dev/null && break
			sleep 0.2
		done
		;;
	*)
		out=$(bash -c "$cmd" 2>&1) || die "failed: $cmd
$out"
		printf '%s\n' "$out" >>"$tmp/outputs"
		;;
	esac
done
grep -q 'This is a test mailing' "$tmp/outputs" ||
	die "the message sent was not read back over IMAP"
# queue_empty: not "queue list | grep -q", which pipefail fails when
# grep exits before list has written everything.
queue_empty() {
	grep -q '^0 message(s)' \
		<<<"$("$tmp/stratamail" queue list -config "$tmp/demo/stratamail.toml")"
}
for _ in $(seq 150); do
	queue_empty && break
	sleep 0.2
done
queue_empty || die "the queue did not drain"
log "PASS: ${#cmds[@]} commands of the demo's instructions ran; the queue drained"
