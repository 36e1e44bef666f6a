#!/usr/bin/env bash
# contrib/e2e/dovecot.sh: can Dovecot read StrataMail's Maildirs as they
# are? The proof that backup tools and a migration can.
#
# Starts `stratamail demo` on loopback, sends alice a few messages, and
# through StrataMail's IMAP creates folders (nested, and one with a
# non-ASCII name), copies, flags, expunges and appends. Then copies her
# Maildir as it is into a private Dovecot instance (Debian's
# dovecot-imapd, its own config, loopback only) and compares, folder by
# folder, what both servers list: the folders, and each message's
# Message-ID and flags. One verdict per check; non-zero exit on any
# difference. Installs dovecot-imapd when missing. As root; 127.0.0.1 only.
#     KEEP=1  keep the scratch folder (logs, both mail copies)
set -euo pipefail
repo=$(cd "$(dirname "$0")/../.." && pwd)
log() { printf '%s\n' "dovecot: $*" >&2; }
die() { log "FATAL: $*"; exit 1; }
. "$repo/contrib/lib.sh"
. "$repo/contrib/dovecot-peer.sh"

dv_install
[ "$(id -u)" = 0 ] || die "run as root (Dovecot drops to its own users)"

tmp=$(mktemp -d /tmp/stratamail-dovecot.XXXXXX)
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

(cd "$repo" && go build -o "$tmp/stratamail" ./cmd/stratamail)
free_port smtp
free_port imap
free_port relay
"$tmp/stratamail" demo -dir "$tmp/demo" -smtp "127.0.0.1:$smtp" \
	-imap "127.0.0.1:$imap" -relay "127.0.0.1:$relay" \
	>"$tmp/demo.out" 2>"$tmp/demo.log" &
sm_pid=$!
wait_demo "$sm_pid" "$tmp/demo.out" "$tmp/demo.log"
user=alice@example.test
password=$(awk -v u="$user" '$1 == "user" && $2 == u && $3 == "password" { print $4 }' \
	"$tmp/demo.out")
[ -n "$password" ] || die "no password for $user in the demo's output"

python3 - "$smtp" "$user" <<'PY'
import smtplib, sys
port, rcpt = int(sys.argv[1]), sys.argv[2]
with smtplib.SMTP("127.0.0.1", port) as s:
    for i in range(6):
        s.sendmail("sender@elsewhere.test", [rcpt],
            ("From: sender@elsewhere.test\r\nTo: %s\r\nSubject: message %d\r\n"
             "Message-ID: <compare-%d@elsewhere.test>\r\n\r\nBody %d.\r\n"
             % (rcpt, i, i, i)).encode())
PY
python3 "$repo/contrib/e2e/dovecot_compare.py" fill \
	--imap "127.0.0.1:$imap" --user "$user" --password "$password"

# Dovecot on a copy of the Maildir, owned by an unprivileged user.
dv_setup "$tmp/dovecot" stratamail-compare "$user" "{PLAIN}$password"
mkdir -p "$dv_mail/example.test"
cp -a "$tmp/demo/mail/example.test/alice" "$dv_mail/example.test/alice"
chown -R nobody:nogroup "$dv_mail"
dv_start
python3 "$repo/contrib/e2e/dovecot_compare.py" compare \
	--a "127.0.0.1:$imap" --b "127.0.0.1:$dv_port" \
	--user "$user" --password "$password" ||
	{ tail -20 "$dv_log" >&2; exit 1; }
