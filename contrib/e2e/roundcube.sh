#!/usr/bin/env bash
# contrib/e2e/roundcube.sh: Roundcube webmail in headless Chromium against
# StrataMail's IMAP server (issue 3).
#
# Installs what it lacks from Debian's packages (Roundcube 1.6 with
# SQLite, PHP 8.2's CLI server, Chromium) and playwright-core from npm
# into a folder of its own (no browser download: it drives Debian's
# chromium). Builds stratamail and serves it from a scratch folder with a
# config of its own: a "both" domain example.test whose primary is down,
# users alice@ and bob@ with hashes made by `stratamail hash-password`,
# IMAP on loopback with allow_insecure_auth. Starts Roundcube with PHP's
# built-in server on loopback (imap_debug on, logs in the scratch
# folder), seeds mail over SMTP (plain, HTML, an attachment, nested
# MIME with an inline image, an attached message, German and Greek text;
# contrib/e2e/roundcube/seed.py) and runs browser.mjs beside it, which
# checks what the user sees step by step and the Maildir on disk. Then
# reads Roundcube's logs: every IMAP command must be answered OK (but the
# test's one wrong password), no BYE without LOGOUT, no errors. Stops
# what it started by PID.
#
# Usage (as root on Debian 12, from anywhere in the repository):
#     bash contrib/e2e/roundcube.sh
# Environment:
#     ARTIFACTS=DIR  where screenshots and logs are kept (default: the
#                    scratch folder's artifacts/, which is then kept)
#     NODE_DIR=DIR   where playwright-core is installed (default
#                    ~/.cache/stratamail-e2e/node)
#     KEEP=1         keep the whole scratch folder
#     HOLD=1         before the browser test, keep the servers running
#                    until the file named in the log is removed (debugging)
# Exits non-zero on any failed step. Only 127.0.0.1.
set -euo pipefail

repo=$(cd "$(dirname "$0")/../.." && pwd)
here=$repo/contrib/e2e/roundcube
NODE_DIR=${NODE_DIR:-${HOME:-/root}/.cache/stratamail-e2e/node}
RC_ROOT=/var/lib/roundcube/public_html
RC_CONF=/etc/roundcube
ALICE=alice@example.test
BOB=bob@example.test

log() { printf '%s\n' "roundcube-e2e: $*" >&2; }
die() { log "FATAL: $*"; exit 1; }
. "$repo/contrib/lib.sh"

# --- dependencies -----------------------------------------------------------
apt_updated=
apt_install() {
	export DEBIAN_FRONTEND=noninteractive
	if [ -z "$apt_updated" ]; then
		apt-get -o DPkg::Lock::Timeout=900 update -qq
		apt_updated=1
	fi
	log "installing $*"
	apt-get -o DPkg::Lock::Timeout=900 install -y -qq \
		--no-install-recommends "$@" >/dev/null
}
need=()
for p in roundcube-core roundcube-sqlite3 php8.2-cgi php8.2-cli \
	php8.2-sqlite3 php8.2-intl php8.2-mbstring chromium python3; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' ||
		need+=("$p")
done
# Node may come from elsewhere (NodeSource's nodejs bundles npm and
# conflicts with Debian's npm): ask for the commands, not the packages.
command -v node >/dev/null || need+=(nodejs)
command -v npm >/dev/null || need+=(npm)
if [ ${#need[@]} -gt 0 ]; then
	# No database set-up by dbconfig: we bring our own SQLite file.
	echo "roundcube-core roundcube/dbconfig-install boolean false" |
		debconf-set-selections
	apt_install "${need[@]}"
fi
command -v go >/dev/null || die "go is not installed"
chromium=$(command -v chromium) || die "no chromium binary"
# Pinned versions, both checked against Debian 12's chromium: the newer
# needs Node 20 (NodeSource's), the older runs on Debian's Node 18.
node_major=$(node -p 'process.versions.node.split(".")[0]')
if [ "$node_major" -ge 20 ]; then pw=1.65.2; else pw=1.55.0; fi
have=$(node -p "require('$NODE_DIR/node_modules/playwright-core/package.json')\
.version" 2>/dev/null || true)
if [ "$have" != "$pw" ]; then
	log "installing playwright-core $pw into $NODE_DIR"
	mkdir -p "$NODE_DIR"
	PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm install --prefix "$NODE_DIR" \
		--no-audit --no-fund "playwright-core@$pw" >"$NODE_DIR/npm.log" 2>&1 ||
		{ tail -n 20 "$NODE_DIR/npm.log" >&2; die "npm install failed"; }
fi

# --- scratch folder and cleanup ---------------------------------------------
tmp=$(mktemp -d /tmp/stratamail-roundcube.XXXXXX)
ARTIFACTS=$(realpath -m "${ARTIFACTS:-$tmp/artifacts}")
mkdir -p "$ARTIFACTS"
sm_pid=
php_pid=
sink_pid=
plugin_link=
cleanup() {
	local rc=$?
	set +e
	[ -n "$plugin_link" ] && rm -f "$plugin_link"
	[ -n "$sink_pid" ] && stop_pid "$sink_pid"
	# PHP's workers are children of the server: stop its whole group.
	[ -n "$php_pid" ] && kill -TERM -- "-$php_pid" 2>/dev/null
	[ -n "$php_pid" ] && stop_pid "$php_pid"
	[ -n "$sm_pid" ] && stop_pid "$sm_pid"
	cp -f "$tmp"/stratamail.log "$tmp"/rc/logs/* "$ARTIFACTS"/ 2>/dev/null
	if [ "${KEEP:-}" = 1 ] || [ "$ARTIFACTS" = "$tmp/artifacts" ]; then
		# The artifacts live in the scratch folder: keep them, drop
		# the bulk (the build).
		rm -f "$tmp/stratamail"
		log "artifacts in $ARTIFACTS (scratch folder $tmp kept)"
	else
		rm -rf "$tmp"
		log "artifacts in $ARTIFACTS"
	fi
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- StrataMail -------------------------------------------------------------
log "building stratamail"
(cd "$repo" && go build -o "$tmp/stratamail" ./cmd/stratamail)
free_port smtp_port
free_port imap_port
free_port relay_port
free_port sub_port
free_port out_port
free_port web_port
alice_pw=alice-$RANDOM-$RANDOM
bob_pw=bob-$RANDOM-$RANDOM
alice_hash=$(printf '%s\n' "$alice_pw" | "$tmp/stratamail" hash-password)
bob_hash=$(printf '%s\n' "$bob_pw" | "$tmp/stratamail" hash-password)
conf=$tmp/stratamail.toml
write_config() {
	cat >"$conf" <<-TOML
	[server]
	hostname = "mx.example.test"
	data_dir = "$tmp/data"

	[smtp]
	listen = ["127.0.0.1:$smtp_port"]

	[imap]
	listen = ["127.0.0.1:$imap_port"]
	allow_insecure_auth = true

	# Roundcube sends replies here (AUTH with the mailbox password).
	[submission]
	listen = ["127.0.0.1:$sub_port"]
	allow_insecure_auth = true

	# Mail for other domains: a stand-in smarthost that keeps each one.
	[outbound]
	smarthost = "127.0.0.1:$out_port"

	[[domain]]
	name = "example.test"
	mode = "both"
	relay = "127.0.0.1:$relay_port" # the primary: down, nothing listens

	[[user]]
	address = "$ALICE"
	password = "$alice_hash"

	[[user]]
	address = "$BOB"
	password = "$bob_hash"
	TOML
}
write_config
"$tmp/stratamail" check-config "$conf" || die "our own config is not valid"
submission=127.0.0.1:$sub_port
"$tmp/stratamail" sink -listen "127.0.0.1:$out_port" -dir "$tmp/outbound" \
	>"$tmp/outbound.log" 2>&1 &
sink_pid=$!
"$tmp/stratamail" serve -config "$conf" 2>"$tmp/stratamail.log" &
sm_pid=$!
for _ in $(seq 100); do
	(exec 3<>"/dev/tcp/127.0.0.1/$imap_port") 2>/dev/null && break
	kill -0 "$sm_pid" 2>/dev/null || { cat "$tmp/stratamail.log" >&2; die "stratamail exited"; }
	sleep 0.1
done
log "stratamail (pid $sm_pid): SMTP 127.0.0.1:$smtp_port, IMAP 127.0.0.1:$imap_port"

# --- Roundcube --------------------------------------------------------------
rc=$tmp/rc
mkdir -p "$rc/config" "$rc/logs" "$rc/temp"
ln -s "$RC_CONF/defaults.inc.php" "$rc/config/defaults.inc.php"
ln -s "$RC_CONF/mimetypes.php" "$rc/config/mimetypes.php"
# Our plugin (the sample config enables it): Roundcube loads plugins
# from its own folder only.
plugins_dir=$(realpath "$RC_ROOT/../plugins")
if [ ! -e "$plugins_dir/stratamail_client_ip" ]; then
	plugin_link=$plugins_dir/stratamail_client_ip
	ln -s "$repo/contrib/roundcube/plugins/stratamail_client_ip" "$plugin_link"
fi
deskey=$(head -c 18 /dev/urandom | base64 | tr '+/' '-_')
sed -e "s|@WORK@|$rc|g" -e "s|@SAMPLE@|$repo/contrib/roundcube/config.inc.php|" \
	-e "s|@IMAP@|127.0.0.1:$imap_port|" -e "s|@SMTP@|${submission}|" \
	-e "s|@DESKEY@|$deskey|" "$here/config.inc.php.in" >"$rc/config/config.inc.php"
# Four workers, as Roundcube fires requests in parallel.
# setsid: the server and its workers get a process group of their own,
# whose id is $php_pid, so that cleanup stops the workers too.
ROUNDCUBE_CONFIG_DIR=$rc/config PHP_CLI_SERVER_WORKERS=4 \
	setsid php -S "127.0.0.1:$web_port" -t "$RC_ROOT" >"$rc/php.log" 2>&1 &
php_pid=$!
for _ in $(seq 100); do
	(exec 3<>"/dev/tcp/127.0.0.1/$web_port") 2>/dev/null && break
	kill -0 "$php_pid" 2>/dev/null || { cat "$rc/php.log" >&2; die "php exited"; }
	sleep 0.1
done
log "roundcube (php pid $php_pid): http://127.0.0.1:$web_port/"

# --- seed mail --------------------------------------------------------------
python3 "$here/seed.py" --smtp "127.0.0.1:$smtp_port" --rcpt "$ALICE" \
	--out "$tmp"

# --- the browser ------------------------------------------------------------
if [ "${HOLD:-}" = 1 ]; then
	# For debugging: leave everything running until $tmp/hold is removed.
	printf 'url=http://127.0.0.1:%s/\nalice=%s\nbob=%s\n' "$web_port" \
		"$alice_pw" "$bob_pw" >"$tmp/hold"
	log "HOLD: serving until $tmp/hold is removed"
	while [ -e "$tmp/hold" ]; do sleep 1; done
fi
status=0
NODE_DIR=$NODE_DIR node "$here/browser.mjs" \
	--url "http://127.0.0.1:$web_port/" --chromium "$chromium" \
	--user "$ALICE" --password "$alice_pw" --peer "$BOB" \
	--peer-password "$bob_pw" --maildir "$tmp/data/mail/example.test" \
	--seeded "$tmp/seeded.json" --attachment "$tmp/attachment.bin" \
	--artifacts "$ARTIFACTS" --submission "$submission" \
	--outbound-dir "$tmp/outbound" --outbound-log "$tmp/outbound.log" \
	--live-cmd "python3 $here/seed.py --smtp 127.0.0.1:$smtp_port \
--rcpt $ALICE --out $tmp --only live" ||
	status=$?

# --- Roundcube's IMAP log ---------------------------------------------------
imaplog=$rc/logs/imap.log
[ -s "$imaplog" ] || die "no IMAP debug log at $imaplog"
# Lines look like "[date]: <session> [conn] S: A0007 NO [CODE] text".
# Every answer must be OK but one: the NO to the test's wrong password.
errors=$(grep -a -E '\] S: (A[0-9]+|\*) (NO|BAD)( |$)' "$imaplog" || true)
authfail=$(grep -c 'NO \[AUTHENTICATIONFAILED\]' <<<"$errors" || true)
other=$(grep -v -e 'NO \[AUTHENTICATIONFAILED\]' -e '^$' <<<"$errors" || true)
if [ -n "$other" ] || [ "$authfail" != 1 ]; then
	log "unexpected NO/BAD answers in Roundcube's IMAP log" \
		"($authfail failed logins, 1 expected):"
	printf '%s\n' "$errors" >&2
	status=1
else
	log "IMAP log: $(grep -c ' C: ' "$imaplog") commands, every one" \
		"answered OK but the wrong password's"
fi
# On this plain loopback connection the server offers SORT (RFC 5256),
# and Roundcube must use it rather than fetch a field of every message.
sorts=$(grep -a -c '\] C: A[0-9]* UID SORT ' "$imaplog" || true)
if [ "$sorts" = 0 ]; then
	log "Roundcube sent no UID SORT (is SORT offered?)"
	status=1
else
	log "IMAP log: Roundcube sorted on the server $sorts times (UID SORT)"
fi
# The plugin names the browser's address before login (IMAP ID), and
# the server counts the logins against it.
if ! grep -a -q '\] C: A[0-9]* ID (.*"x-originating-ip" "198.51.100.23"' "$imaplog"; then
	log "Roundcube sent no ID with x-originating-ip (stratamail_client_ip)"
	status=1
elif ! grep -q 'msg="imap login".*client=198.51.100.23 outcome=ok' "$tmp/stratamail.log"; then
	log "the server's login lines lack client=198.51.100.23"
	status=1
else
	log "IMAP log: Roundcube named the browser's address (ID), the server used it"
fi
# The server ends a session only when asked to: one BYE per LOGOUT.
byes=$(grep -a -c '\] S: \* BYE' "$imaplog" || true)
logouts=$(grep -a -c '\] C: A[0-9]* LOGOUT' "$imaplog" || true)
if [ "$byes" != "$logouts" ]; then
	log "$byes BYE for $logouts LOGOUT in Roundcube's IMAP log:"
	grep -a -B 3 '\] S: \* BYE' "$imaplog" | grep -v LOGOUT >&2
	status=1
fi
# Roundcube logs IMAP trouble (a lost connection, an unparsable answer)
# in errors.log: only the wrong password's line may be there.
if grep -a -v -e 'Login failed for' -e '^$' "$rc/logs/errors.log" 2>/dev/null |
	grep -a '^\[' >"$tmp/rc-errors.txt"; then
	log "errors in Roundcube's errors.log:"
	cat "$tmp/rc-errors.txt" >&2
	status=1
fi
[ "$status" = 0 ] || die "the browser test failed"
log "PASS"
