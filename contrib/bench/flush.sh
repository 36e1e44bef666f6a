#!/usr/bin/env bash
# contrib/bench/flush.sh: the queue flush benchmark.
#
# Measures how fast a backup MX empties its queue when the primary
# returns, for StrataMail and, in the same run on the same machine, for
# a private Postfix backup-MX instance (contrib/bench/postfix.sh). Both
# queue N 4 KiB messages for example.test while the primary is down
# (nothing listens on their relay ports; load from Postfix's smtp-source
# with several sessions), and the script checks that each queue holds N.
# Then, for each server in turn, the primary comes up (Postfix's
# smtp-sink on the server's relay port, counting what it receives), the
# flush is triggered at once (`stratamail queue flush -domain
# example.test`; `postqueue -f`), and the clock runs until the queue is
# empty AND the sink has received N messages. A message missing from the
# sink with an empty queue is lost: the round fails.
#
# Usage (as root, from anywhere in the repository):
#     bash contrib/bench/flush.sh
# Environment:
#     N=10000      messages queued per server and round
#     ROUNDS=1     flushes per server (the queues are refilled between
#                  rounds); the median time is reported
#     SESSIONS=10  smtp-source sessions that fill the queues (not timed)
#     STALL=120    seconds without progress before a flush is declared
#                  stuck
#     KEEP=1       keep the scratch folder (logs, spools) for inspection
# Needs Go (to build stratamail) and Debian's postfix package (installed
# when missing). Everything runs on 127.0.0.1 in a mktemp -d scratch
# folder; /etc/postfix and system services are left alone. Exits
# non-zero when any message is lost or a round fails.
set -euo pipefail

N=${N:-10000}
ROUNDS=${ROUNDS:-1}
SESSIONS=${SESSIONS:-10}
STALL=${STALL:-120}
SIZE=4096
DOMAIN=example.test
RCPT=alice@$DOMAIN
SENDER=bench@elsewhere.test

repo=$(cd "$(dirname "$0")/../.." && pwd)

log() { printf '%s\n' "flush: $*" >&2; }
die() { log "FATAL: $*"; exit 1; }
. "$repo/contrib/lib.sh"
. "$repo/contrib/bench/postfix.sh"

# --- dependencies -----------------------------------------------------------
pf_install
command -v go >/dev/null || die "go is not installed"
[ "$(id -u)" = 0 ] || die "run as root (Postfix's master needs it)"

# --- scratch folder and cleanup ---------------------------------------------
tmp=$(mktemp -d /tmp/stratamail-flush.XXXXXX)
sm_pid=
sink_pid=
cleanup() {
	local rc=$?
	set +e
	[ -n "$sink_pid" ] && stop_pid "$sink_pid"
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

# now prints the time in seconds; elapsed START END prints END-START.
now() { date +%s.%N; }
elapsed() { awk -v s="$1" -v e="$2" 'BEGIN { printf "%.3f", e - s }'; }

# --- StrataMail (the demo: domain example.test, primary down) ----------------
log "building stratamail"
(cd "$repo" && go build -o "$tmp/stratamail" ./cmd/stratamail)
free_port sm_smtp
free_port sm_imap
free_port sm_relay # the primary: closed until the flush
"$tmp/stratamail" demo -dir "$tmp/sm" -smtp "127.0.0.1:$sm_smtp" \
	-imap "127.0.0.1:$sm_imap" -relay "127.0.0.1:$sm_relay" \
	>"$tmp/sm.out" 2>"$tmp/sm.log" &
sm_pid=$!
wait_demo "$sm_pid" "$tmp/sm.out" "$tmp/sm.log"
sm_conf=$tmp/sm/stratamail.toml
sm_queue=$tmp/sm/queue
log "stratamail demo (pid $sm_pid) on 127.0.0.1:$sm_smtp, primary 127.0.0.1:$sm_relay (down)"

# sm_count prints the number of entries "stratamail queue list" shows.
sm_count() {
	local q
	q=$("$tmp/stratamail" queue list -config "$sm_conf" -domain "$DOMAIN" |
		tail -n 1 | awk '$2 == "message(s)" { print $1 }')
	echo "${q:-?}"
}

# sm_files prints the number of files in the queue folder (records,
# messages, temp files); cheap enough to poll.
sm_files() { find "$sm_queue" -maxdepth 1 -type f | wc -l; }

# --- Postfix: a private backup-MX instance -----------------------------------
free_port pf_relay # the primary: closed until the flush
pf_setup "$tmp/postfix" flush "$pf_relay"
pf_start
log "postfix $(postconf -h mail_version) (master pid $(pf_master_pid)) on 127.0.0.1:$pf_smtp, primary 127.0.0.1:$pf_relay (down)"

# --- the primary: smtp-sink --------------------------------------------------
# sink_start PORT OUT starts smtp-sink on PORT, writing its running
# counters to OUT, and waits until it listens.
sink_start() {
	smtp-sink -c -u postfix "127.0.0.1:$1" 1024 >"$2" 2>"$2.err" &
	sink_pid=$!
	for _ in $(seq 100); do
		(exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
		kill -0 "$sink_pid" 2>/dev/null ||
			{ cat "$2.err" >&2; die "smtp-sink exited"; }
		sleep 0.05
	done
	die "smtp-sink does not listen on 127.0.0.1:$1"
}

# sink_count OUT prints the messages the sink has received: its last
# "sess=S quit=Q mesg=M" counter line (the lines end in CR).
sink_count() {
	tail -c 200 "$1" | tr '\r' '\n' |
		awk '{ for (i = 1; i <= NF; i++) if ($i ~ /^mesg=/) m = substr($i, 6) }
		END { print m + 0 }'
}

sink_stop() {
	stop_pid "$sink_pid"
	sink_pid=
}

# --- filling the queues --------------------------------------------------------
# fill NAME PORT COUNT sends COUNT messages to the server on PORT.
fill() {
	local out=$tmp/fill-$1.out
	log "$1: queueing $3 messages of $SIZE bytes ($SESSIONS sessions)"
	smtp-source -s "$SESSIONS" -m "$3" -l "$SIZE" -f "$SENDER" \
		-t "$RCPT" "127.0.0.1:$2" >"$out" 2>&1 ||
		{ sed 's/^/    /' "$out" >&2; die "smtp-source against $1 failed"; }
}

# settle NAME waits (at most 60 s) until NAME's queue holds exactly N
# messages, all deferred (Postfix: in its deferred queue), and dies
# otherwise.
settle() {
	local got=
	for _ in $(seq 120); do
		if [ "$1" = stratamail ]; then
			got=$(sm_count)
		else
			got=$(pf_count)
			[ "$(pf_files deferred)" = "$N" ] || got="$got (not all deferred)"
		fi
		[ "$got" = "$N" ] && return 0
		sleep 0.5
	done
	die "$1 queue holds $got messages, expected $N"
}

# --- one flush -----------------------------------------------------------------
# flush_run NAME ROUND: start the sink on NAME's relay port, trigger the
# flush, time until the queue is empty and the sink has N messages. Sets
# run_time (seconds, or FAIL) and run_cpu (stratamail's CPU seconds
# during the flush, or -).
flush_run() {
	local name=$1 round=$2 port files out t0 t1 got last=-1 moved
	out=$tmp/sink-$name-$round.out
	if [ "$name" = stratamail ]; then port=$sm_relay; else port=$pf_relay; fi
	sink_start "$port" "$out"
	local cpu0
	cpu0=$(sm_cpu)
	t0=$(now)
	moved=$SECONDS
	if [ "$name" = stratamail ]; then
		"$tmp/stratamail" queue flush -config "$sm_conf" -domain "$DOMAIN" \
			>"$tmp/trigger-$round.out" ||
			die "stratamail queue flush failed"
	else
		postqueue -c "$pf_etc" -f || die "postqueue -f failed"
	fi
	t1=
	while :; do
		got=$(sink_count "$out")
		if [ "$got" != "$last" ]; then
			last=$got moved=$SECONDS
		elif [ $((SECONDS - moved)) -ge "$STALL" ]; then
			break # stuck: check_flush says what is wrong
		fi
		# Look at the queue once the sink has all, or while it waits:
		# an empty queue and a sink that stopped short mean loss.
		if [ "$got" -ge "$N" ] || [ $((SECONDS - moved)) -ge 2 ]; then
			files=$(queue_files "$name")
			if [ "$files" = 0 ]; then
				[ "$got" -ge "$N" ] && t1=$(now)
				break
			fi
		fi
		sleep 0.05
	done
	run_cpu=-
	[ "$name" = stratamail ] &&
		run_cpu=$(awk -v a="$cpu0" -v b="$(sm_cpu)" 'BEGIN { printf "%.1f", b - a }')
	sleep 1 # let a late duplicate arrive before the final count
	check_flush "$name" "$round" "$out"
	sink_stop
	if [ -z "$t1" ] || [ "$run_check" != OK ]; then
		log "round $round: $name: FAILED: $run_check"
		run_time=FAIL
		return
	fi
	run_time=$(elapsed "$t0" "$t1")
}

# check_flush NAME ROUND OUT compares the sink's count and the queue
# after a flush with N; sets run_check to OK or to what is wrong, and
# counts lost and duplicate messages.
check_flush() {
	local got left
	got=$(sink_count "$3")
	if [ "$1" = stratamail ]; then left=$(sm_count); else left=$(pf_count); fi
	run_check=OK
	if [ "$left" != 0 ]; then
		run_check="$left message(s) still queued"
	fi
	if [ "$got" -lt "$N" ] && [ "$left" = 0 ]; then
		lost=$((lost + N - got))
		run_check="LOST $((N - got)) message(s): sink received $got of $N, queue empty"
	elif [ "$got" -gt "$N" ]; then
		dups=$((dups + got - N))
		run_check="sink received $got, $((got - N)) more than were queued (duplicates)"
	elif [ "$run_check" = OK ] && [ "$got" != "$N" ]; then
		run_check="sink received $got of $N"
	fi
}

# queue_files NAME prints the number of files in NAME's queue.
queue_files() {
	if [ "$1" = stratamail ]; then sm_files; else pf_files; fi
}

# sm_cpu prints the CPU seconds (user + system) stratamail has used.
sm_cpu() {
	awk -v hz="$(getconf CLK_TCK)" '{ printf "%.2f", ($14 + $15) / hz }' \
		"/proc/$sm_pid/stat"
}

# --- the rounds --------------------------------------------------------------
lost=0
dups=0
failed=0
declare -A times # server -> the times of its rounds, or FAIL
sm_cpus=
for round in $(seq "$ROUNDS"); do
	fill stratamail "$sm_smtp" "$N"
	fill postfix "$pf_smtp" "$N"
	settle stratamail
	settle postfix
	log "round $round: both queues hold $N messages"
	# Alternate the order so that drift in the machine's load hits both
	# alike.
	order="stratamail postfix"
	[ $((round % 2)) = 0 ] && order="postfix stratamail"
	for srv in $order; do
		log "round $round: $srv: primary up, flushing"
		flush_run "$srv" "$round"
		times[$srv]="${times[$srv]:-} $run_time"
		if [ "$run_time" = FAIL ]; then
			failed=1
			continue
		fi
		[ "$srv" = stratamail ] && sm_cpus="$sm_cpus $run_cpu"
		log "round $round: $srv: $N messages in $run_time s," \
			"$(awk -v n="$N" -v t="$run_time" 'BEGIN { printf "%.1f", n / t }') msg/s"
	done
	# A failed flush leaves what it left; start the next round clean.
	[ "$failed" = 0 ] || break
done

# median LIST prints the median of the numbers in LIST (or FAIL).
median() {
	case $1 in *FAIL*) echo FAIL; return ;; esac
	printf '%s\n' $1 | sort -n |
		awk '{ v[NR] = $1 } END { m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2; printf "%.3f", m }'
}
rate() {
	case $1 in FAIL) echo FAIL ;; *) awk -v n="$N" -v t="$1" 'BEGIN { printf "%.1f", n / t }' ;; esac
}

# --- report -----------------------------------------------------------------
a=$(median "${times[stratamail]:-FAIL}")
b=$(median "${times[postfix]:-FAIL}")
ra=$(rate "$a")
rb=$(rate "$b")
case "$ra$rb" in
*FAIL*) ratio=- ;;
*) ratio=$(awk -v a="$ra" -v b="$rb" 'BEGIN { printf "%.2f", a / b }') ;;
esac
echo
echo "Queue flush: $N messages of $SIZE bytes for $DOMAIN, queued while the primary"
echo "was down; then smtp-sink on the relay port and the flush triggered at once;"
echo "timed until the queue is empty and the sink has all $N. Median of $ROUNDS round(s)."
echo "(stratamail: demo, \"queue flush -domain\"; postfix $(postconf -h mail_version):"
echo "backup MX with default settings, \"postqueue -f\")"
printf '%-11s %10s %10s\n' server seconds msg/s
printf '%-11s %10s %10s\n' stratamail "$a" "$ra"
printf '%-11s %10s %10s\n' postfix "$b" "$rb"
echo "stratamail/postfix (rate): $ratio"
echo "all rounds (s): stratamail${times[stratamail]:-}; postfix${times[postfix]:-}"
echo "stratamail CPU seconds during its flushes:${sm_cpus:- -}"
echo "lost: $lost, duplicates: $dups"
if [ "$failed" != 0 ] || [ "$lost" != 0 ]; then
	echo "flush: FAILED (see messages above)"
	exit 1
fi
