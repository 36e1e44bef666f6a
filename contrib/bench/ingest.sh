#!/usr/bin/env bash
# contrib/bench/ingest.sh: the SMTP ingest benchmark.
#
# Measures how many messages per second a backup MX accepts over SMTP while
# the primary is down, for StrataMail (domain in "both" mode: every message
# goes to the shadow Maildir and to the relay queue) and, in the same run on
# the same machine, for a private Postfix instance configured as a backup MX
# for the same domain (relay_domains, queueing for an unreachable primary,
# Postfix's default fsync durability). Load comes from Postfix's smtp-source:
# 4 KiB messages, a new connection per message, with 1 and with 10 parallel
# sessions. Each run's message count is verified (StrataMail: files in the
# user's Maildir new/ and entries in `stratamail queue list`; Postfix:
# `postqueue -p`) so that a run that lost messages reports FAIL, not a rate.
#
# Usage (as root, from anywhere in the repository):
#     bash contrib/bench/ingest.sh
# Environment:
#     N=2000        messages per measured run
#     WARMUP=100    messages sent to each server before measuring (not timed)
#     SESSIONS="1 10"  the session counts to measure
#     ROUNDS=3      measured runs per server and session count (the median
#                   is reported; the spool grows over the rounds for both)
#     KEEP=1        keep the scratch folder (logs, spools) for inspection
# Needs Go (to build stratamail); installs Debian's postfix package (which
# ships smtp-source) when it is missing. Everything runs on 127.0.0.1 in a
# mktemp -d scratch folder; /etc/postfix and system services are left alone.
# Exits non-zero when any run fails or loses messages.
set -euo pipefail

N=${N:-2000}
WARMUP=${WARMUP:-100}
SESSIONS=${SESSIONS:-"1 10"}
ROUNDS=${ROUNDS:-3}
SIZE=4096
RCPT=alice@example.test
SENDER=bench@elsewhere.test

repo=$(cd "$(dirname "$0")/../.." && pwd)

log() { printf '%s\n' "ingest: $*" >&2; }
die() { log "FATAL: $*"; exit 1; }
. "$repo/contrib/lib.sh"

# --- dependencies -----------------------------------------------------------
. "$repo/contrib/bench/postfix.sh"
pf_install
command -v go >/dev/null || die "go is not installed"
[ "$(id -u)" = 0 ] || die "run as root (Postfix's master needs it)"

# --- scratch folder and cleanup ---------------------------------------------
tmp=$(mktemp -d /tmp/stratamail-ingest.XXXXXX)
sm_pid=
cleanup() {
	local rc=$?
	set +e
	[ -n "$sm_pid" ] && stop_pid "$sm_pid"
	pf_stop
	if [ "${KEEP:-}" = 1 ]; then
		log "kept $tmp"
	else
		rm -rf "$tmp"
	fi
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# elapsed START END prints END-START in seconds.
elapsed() { awk -v s="$1" -v e="$2" 'BEGIN { printf "%.3f", e - s }'; }

# --- StrataMail (the demo: domain example.test in both mode, primary down) --
log "building stratamail"
(cd "$repo" && go build -o "$tmp/stratamail" ./cmd/stratamail)
free_port sm_smtp
free_port sm_imap
free_port sm_relay # nothing ever listens here: the primary is down
"$tmp/stratamail" demo -dir "$tmp/sm" -smtp "127.0.0.1:$sm_smtp" \
	-imap "127.0.0.1:$sm_imap" -relay "127.0.0.1:$sm_relay" \
	>"$tmp/sm.out" 2>"$tmp/sm.log" &
sm_pid=$!
wait_demo "$sm_pid" "$tmp/sm.out" "$tmp/sm.log"
sm_conf=$tmp/sm/stratamail.toml
sm_new=$tmp/sm/mail/example.test/alice/new
log "stratamail demo (pid $sm_pid) on 127.0.0.1:$sm_smtp, primary 127.0.0.1:$sm_relay (down)"

sm_count() { # prints "maildir_new_files queue_entries"
	local nf q
	nf=$(find "$sm_new" -type f 2>/dev/null | wc -l)
	q=$("$tmp/stratamail" queue list -config "$sm_conf" | tail -n 1 |
		awk '$2 == "message(s)" { print $1 }')
	echo "$nf ${q:-?}"
}

# --- Postfix: a private backup-MX instance -----------------------------------
free_port pf_relay # the primary: closed, so everything defers
pf_setup "$tmp/postfix" ingest "$pf_relay"
pf_start
log "postfix (master pid $(pf_master_pid)) on 127.0.0.1:$pf_smtp, primary 127.0.0.1:$pf_relay (down)"

# --- the runs ---------------------------------------------------------------
# source SESSIONS COUNT PORT LOGFILE: run smtp-source, print elapsed seconds.
source_run() {
	local s e
	s=$(date +%s.%N)
	if ! smtp-source -s "$1" -m "$2" -l "$SIZE" -f "$SENDER" -t "$RCPT" \
		"127.0.0.1:$3" >"$4" 2>&1; then
		log "smtp-source -s $1 -m $2 against port $3 failed:"
		sed 's/^/    /' "$4" >&2
		echo FAIL
		return 0
	fi
	e=$(date +%s.%N)
	elapsed "$s" "$e"
}

sm_expect=0
pf_expect=0
failed=0

# check_sm / check_pf: wait (at most 15 s) for the expected totals; print OK
# or the numbers found.
check_sm() {
	local got
	for _ in $(seq 30); do
		got=$(sm_count)
		[ "$got" = "$sm_expect $sm_expect" ] && { echo OK; return; }
		sleep 0.5
	done
	echo "new/=${got% *} queue=${got#* } expected=$sm_expect"
}
check_pf() {
	local got
	for _ in $(seq 30); do
		got=$(pf_count)
		[ "$got" = "$pf_expect" ] && { echo OK; return; }
		sleep 0.5
	done
	echo "queue=$got expected=$pf_expect"
}

if [ "$WARMUP" -gt 0 ]; then
	log "warm-up: $WARMUP messages to each"
	[ "$(source_run 10 "$WARMUP" "$sm_smtp" "$tmp/warm-sm.out")" != FAIL ] ||
		die "warm-up against stratamail failed"
	sm_expect=$((sm_expect + WARMUP))
	[ "$(source_run 10 "$WARMUP" "$pf_smtp" "$tmp/warm-pf.out")" != FAIL ] ||
		die "warm-up against postfix failed"
	pf_expect=$((pf_expect + WARMUP))
	c=$(check_sm); [ "$c" = OK ] || die "stratamail after warm-up: $c"
	c=$(check_pf); [ "$c" = OK ] || die "postfix after warm-up: $c"
fi

declare -A rates # "stratamail,10" -> the rates of its rounds, or FAIL
for round in $(seq "$ROUNDS"); do
	for s in $SESSIONS; do
		# Alternate the servers so that drift in the machine's load
		# hits both alike.
		for srv in stratamail postfix; do
			if [ $srv = stratamail ]; then port=$sm_smtp; else port=$pf_smtp; fi
			log "round $round: $srv: $N messages of $SIZE bytes, $s session(s), a connection per message"
			t=$(source_run "$s" "$N" "$port" "$tmp/run-$srv-$s-$round.out")
			if [ $srv = stratamail ]; then
				sm_expect=$((sm_expect + N)); c=$(check_sm)
			else
				pf_expect=$((pf_expect + N)); c=$(check_pf)
			fi
			if [ "$t" = FAIL ] || [ "$c" != OK ]; then
				[ "$c" = OK ] || log "$srv, $s session(s): message count wrong: $c"
				rates[$srv,$s]=" FAIL"; failed=1
				# Go on from what the spools hold now.
				sm_expect=$(sm_count | cut -d' ' -f1)
				pf_expect=$(pf_count)
				case "$sm_expect/$pf_expect" in
				*[!0-9/]* | /* | */) die "cannot count the spools" ;;
				esac
			elif [ "${rates[$srv,$s]:-}" != " FAIL" ]; then
				r=$(awk -v n="$N" -v t="$t" 'BEGIN { printf "%.1f", n / t }')
				rates[$srv,$s]="${rates[$srv,$s]:-} $r"
				log "round $round: $srv, $s session(s): $t s, $r msg/s, counts OK"
			fi
		done
	done
done

# median LIST prints the median of the numbers in LIST (or FAIL).
median() {
	case $1 in *FAIL*) echo FAIL; return ;; esac
	printf '%s\n' $1 | sort -n |
		awk '{ v[NR] = $1 } END { m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2; printf "%.1f", m }'
}

# --- report -----------------------------------------------------------------
echo
echo "SMTP ingest: $N messages of $SIZE bytes per run, a new connection per message,"
echo "median of $ROUNDS round(s) (stratamail: demo, domain in both mode; postfix"
echo "$(postconf -h mail_version): backup MX with default durability; primary down for both)"
printf '%-9s %18s %15s %18s\n' sessions "stratamail msg/s" "postfix msg/s" "stratamail/postfix"
for s in $SESSIONS; do
	a=$(median "${rates[stratamail,$s]:-FAIL}")
	b=$(median "${rates[postfix,$s]:-FAIL}")
	case "$a$b" in
	*FAIL*) r=- ;;
	*) r=$(awk -v a="$a" -v b="$b" 'BEGIN { printf "%.2f", a / b }') ;;
	esac
	printf '%-9s %18s %15s %18s\n' "$s" "$a" "$b" "$r"
done
echo "all rounds (msg/s):"
for s in $SESSIONS; do
	echo "  $s session(s): stratamail${rates[stratamail,$s]:-}; postfix${rates[postfix,$s]:-}"
done
echo "final counts: stratamail new/ and queue $(sm_count), postfix queue $(pf_count)"
if [ "$failed" != 0 ]; then
	echo "ingest: FAILED (see messages above)"
	exit 1
fi
