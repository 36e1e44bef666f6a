#!/usr/bin/env bash
# contrib/relaycheck.sh: the open-relay and SMTP smuggling check against
# a fresh `stratamail demo` on loopback, then again inside STARTTLS
# against `stratamail serve` on the demo's configuration with a
# self-signed certificate added. Prints one verdict per case
# (contrib/relaycheck/relaycheck.py) and exits non-zero if any fails.
# To check a server of your own instead, run relaycheck.py directly:
#     python3 contrib/relaycheck/relaycheck.py HOST:PORT --domain D --user U@D
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
log() { printf '%s\n' "relaycheck: $*" >&2; }
die() { log "FATAL: $*"; exit 1; }
. "$repo/contrib/lib.sh"

tmp=$(mktemp -d /tmp/stratamail-relaycheck.XXXXXX)
pid=
cleanup() {
	local rc=$?
	[ -n "$pid" ] && stop_pid "$pid"
	rm -rf "$tmp"
	exit "$rc"
}
trap cleanup EXIT
(cd "$repo" && go build -o "$tmp/stratamail" ./cmd/stratamail)
free_port smtp
free_port imap
free_port relay
"$tmp/stratamail" demo -dir "$tmp/demo" -smtp "127.0.0.1:$smtp" \
	-imap "127.0.0.1:$imap" -relay "127.0.0.1:$relay" \
	>"$tmp/demo.out" 2>"$tmp/demo.log" &
pid=$!
wait_demo "$pid" "$tmp/demo.out" "$tmp/demo.log"
python3 "$repo/contrib/relaycheck/relaycheck.py" "127.0.0.1:$smtp" \
	--domain example.test --user alice@example.test
stop_pid "$pid"
pid=

log "again inside STARTTLS"
openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=localhost \
	-keyout "$tmp/key.pem" -out "$tmp/cert.pem" 2>/dev/null
printf '\n[tls]\ncert = "%s"\nkey = "%s"\n' "$tmp/cert.pem" "$tmp/key.pem" \
	>>"$tmp/demo/stratamail.toml"
"$tmp/stratamail" serve -config "$tmp/demo/stratamail.toml" \
	>"$tmp/serve.log" 2>&1 &
pid=$!
wait_port "$smtp" "$pid" "$tmp/serve.log"
python3 "$repo/contrib/relaycheck/relaycheck.py" "127.0.0.1:$smtp" \
	--domain example.test --user alice@example.test --starttls
