#!/usr/bin/env bash
# Installs the real peers the tests and contrib scripts drive, from
# Debian's packages: mbsync (isync), swaks, Postfix (smtp-source,
# smtp-sink, the benchmark peer), mutt, openssl (test certificates) and
# Python's email test data.
# Postfix is preseeded to "Local only"; apt's policy may refuse to start
# services, and no test needs the system instance: the scripts start
# private ones on loopback.
set -euo pipefail
need=()
command -v mbsync >/dev/null || need+=(isync)
command -v swaks >/dev/null || need+=(swaks)
command -v smtp-source >/dev/null || need+=(postfix)
command -v mutt >/dev/null || need+=(mutt)
command -v python3 >/dev/null || need+=(python3)
command -v openssl >/dev/null || need+=(openssl)
[ -d /usr/lib/python3.11/test/test_email ] ||
	need+=(libpython3.11-testsuite)
[ ${#need[@]} -eq 0 ] && exit 0
echo "installing: ${need[*]}"
export DEBIAN_FRONTEND=noninteractive
echo "postfix postfix/main_mailer_type select Local only" |
	debconf-set-selections
echo "postfix postfix/mailname string localhost" | debconf-set-selections
apt-get update -qq
apt-get install -y -qq "${need[@]}" >/dev/null
