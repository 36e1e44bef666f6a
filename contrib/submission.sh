#!/usr/bin/env bash
# contrib/submission.sh: the submission service with a real client.
#
# Builds stratamail, starts `stratamail demo` on free loopback ports in a
# scratch folder (its submission listener allows AUTH without TLS, as for
# a Roundcube on the same host), and drives it with swaks:
#   - AUTH LOGIN and AUTH PLAIN as alice to bob and to an outside address:
#     250, bob's copy in his shadow INBOX, the outside one queued with
#     route "outbound";
#   - the refusals: no AUTH (530 5.7.0), a wrong password (535 5.7.8), a
#     sender that is not alice's (553 5.7.1), a From: header that is not
#     alice's (553 5.7.1);
#   - then starts `stratamail sink` (the demo's smarthost and primary),
#     flushes the queue and checks that the outside copy arrived.
# Prints one PASS/FAIL line per check; exits non-zero on any failure.
# Usage (from anywhere in the repository):  bash contrib/submission.sh
# Needs Go and swaks. Only 127.0.0.1.
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
log() { printf '%s\n' "submission: $*" >&2; }
die() { log "FATAL: $*"; exit 1; }
. "$repo/contrib/lib.sh"
command -v swaks >/dev/null || die "swaks is not installed"
command -v go >/dev/null || die "go is not installed"

tmp=$(mktemp -d /tmp/stratamail-submission.XXXXXX)
sm_pid=
sink_pid=
cleanup() {
	local rc=$?
	set +e
	[ -n "$sink_pid" ] && stop_pid "$sink_pid"
	[ -n "$sm_pid" ] && stop_pid "$sm_pid"
	[ "$rc" -ne 0 ] && [ -f "$tmp/demo.log" ] && tail -n 20 "$tmp/demo.log" >&2
	rm -rf "$tmp"
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

(cd "$repo" && go build -o "$tmp/stratamail" ./cmd/stratamail)
free_port smtp_port
free_port imap_port
free_port relay_port
free_port sub_port
sub=127.0.0.1:$sub_port
relay=127.0.0.1:$relay_port
"$tmp/stratamail" demo -dir "$tmp/sm" -smtp "127.0.0.1:$smtp_port" \
	-imap "127.0.0.1:$imap_port" -relay "$relay" -submission "$sub" \
	>"$tmp/demo.out" 2>"$tmp/demo.log" &
sm_pid=$!
wait_demo "$sm_pid" "$tmp/demo.out" "$tmp/demo.log"
pw=$(awk '$1 == "user" && $2 == "alice@example.test" { print $4 }' \
	"$tmp/demo.out")
[ -n "$pw" ] || die "no password for alice in the demo's output"

failed=0
check() { # check NAME WANT SWAKS-ARGS...: WANT is the last reply's start
	local name=$1 want=$2 out
	shift 2
	out=$(swaks --server "$sub" --helo client.test "$@" 2>&1 || true)
	# swaks marks replies "<- " (expected) or "<** " (an error).
	if grep -Eq "^<(-|\*\*) +$want" <<<"$out"; then
		echo "PASS $name ($want)"
	else
		echo "FAIL $name: no $want reply"; echo "$out" | sed 's/^/    /'
		failed=$((failed + 1))
	fi
}
auth=(--auth-user alice@example.test --auth-password "$pw")
from_alice=(--from alice@example.test --h-From '<alice@example.test>')

check "AUTH LOGIN, local and outside recipients" "250 2.0.0 OK" \
	--auth LOGIN "${auth[@]}" "${from_alice[@]}" \
	--to bob@example.test,friend@elsewhere.test
check "AUTH PLAIN, alias as sender" "250 2.0.0 OK" \
	--auth PLAIN "${auth[@]}" --from sales@example.test \
	--h-From '<sales@example.test>' --to bob@example.test
check "no AUTH" "530 5.7.0" "${from_alice[@]}" --to bob@example.test
check "wrong password" "535 5.7.8" --auth PLAIN \
	--auth-user alice@example.test --auth-password wrong \
	"${from_alice[@]}" --to bob@example.test
check "someone else's sender" "553 5.7.1" --auth LOGIN "${auth[@]}" \
	--from bob@example.test --to friend@elsewhere.test
check "someone else's From:" "553 5.7.1" --auth LOGIN "${auth[@]}" \
	--from alice@example.test --h-From '<ceo@example.test>' \
	--to friend@elsewhere.test

n=$(ls "$tmp/sm/mail/example.test/bob/new" | wc -l)
if [ "$n" -eq 2 ]; then echo "PASS bob's INBOX has 2 messages"; else
	echo "FAIL bob's INBOX has $n messages, want 2"; failed=$((failed + 1))
fi
conf=$tmp/sm/stratamail.toml
# Not "queue list | grep -q": grep may exit before list has written all,
# and under pipefail the SIGPIPE list gets then fails the test.
if grep -q 'elsewhere.test *outbound *alice@example.test *friend@' \
	<<<"$("$tmp/stratamail" queue list -config "$conf")"; then
	echo "PASS the outside copy is queued on the outbound route"
else
	echo "FAIL no outbound entry:"; "$tmp/stratamail" queue list -config "$conf"
	failed=$((failed + 1))
fi

"$tmp/stratamail" sink -listen "$relay" >"$tmp/sink.out" 2>&1 &
sink_pid=$!
for _ in $(seq 50); do
	grep -q accepting "$tmp/sink.out" 2>/dev/null && break; sleep 0.2
done
"$tmp/stratamail" queue flush -config "$conf" >/dev/null
for _ in $(seq 100); do
	grep -q 'to=friend@elsewhere.test' "$tmp/sink.out" && break; sleep 0.2
done
if grep -q 'from=<alice@example.test> to=friend@elsewhere.test' \
	"$tmp/sink.out"; then
	echo "PASS the smarthost got the outside copy"
else
	echo "FAIL the smarthost did not get it:"; cat "$tmp/sink.out"
	failed=$((failed + 1))
fi

[ "$failed" -eq 0 ] || die "$failed check(s) failed"
log "all checks passed"
