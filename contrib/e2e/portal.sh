#!/usr/bin/env bash
# Drives the operators' portal in headless Chromium, end to end: starts
# stratamail with a domain whose primary is down, queues a few messages
# over SMTP, then (contrib/e2e/portal/portal-test.mjs) logs in, loads
# the domain's queue, checks the messages are listed, starts a primary
# (stratamail sink), presses Flush all, checks the queue empties and
# opens the uptime page. Screenshots go to the folder printed at the end
# (ARTIFACTS=DIR to choose it). Everything listens on 127.0.0.1 only.
#
# Usage: contrib/e2e/portal.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$(pwd)
here=$root/contrib/e2e

# Chromium and Node from Debian; playwright-core from npm into a folder
# of this script's own. Chromium's own download is never used.
# TODO: share this install step with contrib/e2e/roundcube.sh.
need=()
command -v chromium >/dev/null || need+=(chromium)
command -v node >/dev/null || need+=(nodejs)
command -v npm >/dev/null || need+=(npm)
command -v python3 >/dev/null || need+=(python3)
if [ ${#need[@]} -gt 0 ]; then
	echo "== installing ${need[*]}"
	apt-get -o DPkg::Lock::Timeout=900 update -qq
	DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=900 \
		install -y -qq "${need[@]}" >/dev/null
fi
if [ ! -d "$here/portal/node_modules/playwright-core" ]; then
	echo "== npm install playwright-core"
	PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm install --prefix "$here/portal" \
		--no-audit --no-fund --silent
fi

work=$(mktemp -d /tmp/stratamail-portal-e2e.XXXXXX)
artifacts=${ARTIFACTS:-$work/artifacts}
mkdir -p "$artifacts"
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
	rm -rf "$work/data" "$work/stratamail" # keep the logs and screenshots
}
trap cleanup EXIT

# free_port prints a loopback port below 32768 where nothing listens.
free_port() {
	local p
	for _ in $(seq 100); do
		p=$((20000 + RANDOM % 12000))
		if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
			echo "$p"
			return
		fi
	done
	echo "no free port found" >&2
	return 1
}

# wait_port waits until something answers on 127.0.0.1:$1.
wait_port() {
	for _ in $(seq 100); do
		(exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
		sleep 0.1
	done
	echo "nothing listens on 127.0.0.1:$1" >&2
	return 1
}

echo "== build"
go build -o "$work/stratamail" ./cmd/stratamail
smtp=$(free_port)
primary=$(free_port)
portal=$(free_port)
password=$(head -c 12 /dev/urandom | base64 | tr -d '/+=')
hash=$(printf '%s\n' "$password" | "$work/stratamail" hash-password)

# The primary is down from the start: the monitor's first round (at
# start, down_after = 1) declares the outage, and the long
# probe_interval keeps the watcher from draining the queue by itself
# when the primary returns, so only the portal's flush can.
cat >"$work/stratamail.toml" <<TOML
[server]
hostname = "portal-e2e.localhost"
data_dir = "$work/data"
retry_interval = "30m"
probe_interval = "30m"

[smtp]
listen = ["127.0.0.1:$smtp"]

[imap]
listen = []

[monitor]
down_after = 1

[portal]
listen = "127.0.0.1:$portal"

[[operator]]
name = "admin"
password = "$hash"

[[domain]]
name = "example.test"
mode = "relay"
relay = "127.0.0.1:$primary"
monitor = true
TOML

echo "== start stratamail (SMTP $smtp, portal $portal, primary $primary down)"
"$work/stratamail" serve -config "$work/stratamail.toml" \
	>"$artifacts/stratamail.log" 2>&1 &
pids+=($!)
wait_port "$smtp"
wait_port "$portal"

echo "== queue three messages"
python3 - "$smtp" <<'PY'
import smtplib, sys
with smtplib.SMTP("127.0.0.1", int(sys.argv[1])) as s:
    for i in range(3):
        s.sendmail("sender@elsewhere.test", [f"user{i}@example.test"],
                   f"Subject: portal test {i}\r\n\r\nQueued while the "
                   "primary is down.\r\n")
PY

echo "== chromium"
node "$here/portal/portal-test.mjs" \
	--url "http://127.0.0.1:$portal" --password "$password" \
	--domain example.test --messages 3 \
	--sink "$work/stratamail" --sink-listen "127.0.0.1:$primary" \
	--artifacts "$artifacts"

echo "== ok; screenshots and logs in $artifacts"
