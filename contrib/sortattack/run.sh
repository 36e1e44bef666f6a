#!/bin/bash
# contrib/sortattack/run.sh: attack the IMAP SORT support as a user and
# as an attacker (RFC 5256 orders against an independent model, raw
# socket pipelines, desyncs of the SORT wrapper, STARTTLS, load and RSS).
#
# It builds stratamail from this tree into a scratch folder, starts
# "stratamail demo" on free loopback ports, fills alice's mailboxes
# (fill.py), starts a second instance with a self-signed [tls]
# certificate on a copy of the data (for the STARTTLS checks), runs
# order.py, attacks.py and load.py, and stops both servers by their PIDs.
# Each check prints PASS or FAIL; the exit status is 1 if any failed.
#
#   N=300        messages to fill INBOX with
#   CUT_STEP=1   cut the pipeline at every CUT_STEP-th byte
#   KEEP=1       leave the scratch folder (it is printed)
set -u
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
log() { printf 'sortattack: %s\n' "$*" >&2; }
die() { log "$*"; exit 2; }
. "$root/contrib/lib.sh"

work=$(mktemp -d /tmp/sortattack.XXXXXX)
demo_pid= tls_pid=
cleanup() {
	[ -n "$tls_pid" ] && stop_pid "$tls_pid"
	[ -n "$demo_pid" ] && stop_pid "$demo_pid"
	if [ "${KEEP:-0}" = 1 ]; then log "kept $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT

log "building into $work"
(cd "$root" && go build -o "$work/stratamail" ./cmd/stratamail) || die "build failed"

free_port imap; free_port smtp; free_port sub; free_port portal; free_port relay
"$work/stratamail" demo -dir "$work/data" -imap "127.0.0.1:$imap" \
	-smtp "127.0.0.1:$smtp" -submission "127.0.0.1:$sub" \
	-portal "127.0.0.1:$portal" -relay "127.0.0.1:$relay" \
	>"$work/demo.out" 2>"$work/demo.log" &
demo_pid=$!
wait_demo "$demo_pid" "$work/demo.out" "$work/demo.log"
pass=$(sed -n 's/.*user alice@example.test  password \([^ ]*\).*/\1/p' "$work/demo.out")
[ -n "$pass" ] || die "no password for alice in the demo's output"

export SA_IMAP_PORT=$imap SA_SMTP_PORT=$smtp SA_USER=alice@example.test
export SA_PASS=$pass SA_PID=$demo_pid SA_CUT_STEP=${CUT_STEP:-1}
export SA_MAILDIR=$work/data/mail/example.test/alice
python3 "$here/fill.py" "${N:-300}" || die "fill failed"

# The TLS instance: the demo's config with other ports, a copy of the
# data and a self-signed certificate.
free_port timap; free_port tsmtp; free_port tsub; free_port tportal
openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=localhost \
	-keyout "$work/key.pem" -out "$work/cert.pem" 2>/dev/null || die "openssl"
mkdir -p "$work/tlsdata" && cp -a "$work/data/mail" "$work/tlsdata/"
sed -e "s#^data_dir = .*#data_dir = \"$work/tlsdata\"#" \
	-e "s/127.0.0.1:$imap/127.0.0.1:$timap/; s/127.0.0.1:$smtp/127.0.0.1:$tsmtp/" \
	-e "s/127.0.0.1:$sub/127.0.0.1:$tsub/; s/127.0.0.1:$portal/127.0.0.1:$tportal/" \
	-e "s#^\[\[operator\]\]#[tls]\ncert = \"$work/cert.pem\"\nkey = \"$work/key.pem\"\n\n&#" \
	"$work/data/stratamail.toml" >"$work/tls.toml"
"$work/stratamail" serve -config "$work/tls.toml" >"$work/tls.log" 2>&1 &
tls_pid=$!
wait_port "$timap" "$tls_pid" "$work/tls.log"
export SA_TLS_PORT=$timap

rc=0
python3 "$here/order.py" Ctl || rc=1
python3 "$here/order.py" INBOX || rc=1
python3 "$here/attacks.py" || rc=1
python3 "$here/load.py" "${CONNS:-100}" "${ROUNDS:-30}" || rc=1
kill -0 "$demo_pid" 2>/dev/null || { log "the demo died"; rc=1; }
if grep -E 'panic|goroutine ' "$work/demo.log" "$work/tls.log"; then
	log "a panic in the server logs"; rc=1
fi
exit $rc
