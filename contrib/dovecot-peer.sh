# contrib/dovecot-peer.sh: a private Dovecot IMAP instance on loopback,
# serving copies of our Maildirs, for the scripts that compare StrataMail
# with it (contrib/e2e/dovecot.sh, contrib/bench/imap-large.sh). Source
# it after contrib/lib.sh (it uses log, die, free_port, stop_pid and
# wait_port).
#
#   dv_install                  install Debian's dovecot-imapd if missing
#   dv_setup DIR NAME USER PASS write a private instance into DIR (config,
#                               passwd file, runtime folder, log) that
#                               listens on a free loopback port; NAME is
#                               its instance_name, USER (local@domain) its
#                               only login, PASS that user's password entry
#                               with its scheme ("{PLAIN}secret",
#                               "{BLF-CRYPT}$2a$10$..."). Sets dv_dir,
#                               dv_port, dv_log and dv_mail: copy a
#                               Maildir++ to $dv_mail/DOMAIN/LOCAL and
#                               give it to nobody before dv_start.
#   dv_start                    start it and wait for its listener
#   dv_stop                     stop it (the master by its PID); safe to
#                               call when it never started
#   dv_master_pid               print the master's PID (empty if none)
#
# Dovecot refuses to access mail as root, so mail is served as nobody
# (static userdb); only the mail folder changes owner. No TLS, plain
# LOGIN allowed, 127.0.0.1 only; /etc/dovecot and the system's service
# are left alone.

dv_dir=
dv_port=
dv_log=
dv_mail=

dv_install() {
	command -v dovecot >/dev/null && return 0
	log "installing dovecot-imapd"
	export DEBIAN_FRONTEND=noninteractive
	apt-get -o DPkg::Lock::Timeout=900 install -y -qq dovecot-imapd \
		>/dev/null || { apt-get update -qq &&
		apt-get -o DPkg::Lock::Timeout=900 install -y -qq dovecot-imapd \
			>/dev/null; } || die "cannot install dovecot-imapd"
}

dv_setup() {
	dv_dir=$1
	dv_log=$1/dovecot.log
	dv_mail=$1/mail
	free_port dv_port
	mkdir -p "$dv_dir/run" "$dv_mail"
	# nobody must reach the mail through every parent folder.
	chmod 755 "$(dirname "$dv_dir")" "$dv_dir"
	printf '%s:%s\n' "$3" "$4" >"$dv_dir/passwd"
	cat >"$dv_dir/dovecot.conf" <<CONF
# Private instance written by contrib/dovecot-peer.sh.
base_dir = $dv_dir/run
instance_name = $2
listen = 127.0.0.1
protocols = imap
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
log_path = $dv_log
first_valid_uid = 1
mail_location = maildir:$dv_mail/%d/%n
passdb {
  driver = passwd-file
  args = username_format=%u $dv_dir/passwd
}
userdb {
  driver = static
  args = uid=nobody gid=nogroup home=$dv_mail/%d/%n
}
service imap-login {
  inet_listener imap {
    address = 127.0.0.1
    port = $dv_port
  }
  inet_listener imaps {
    port = 0
  }
}
service auth {
  unix_listener auth-userdb {
    mode = 0666
  }
}
CONF
}

dv_start() {
	dovecot -c "$dv_dir/dovecot.conf" ||
		{ tail -n 20 "$dv_log" >&2; die "dovecot did not start"; }
	wait_port "$dv_port" "$(dv_master_pid)" "$dv_log"
}

dv_master_pid() {
	if [ -n "$dv_dir" ] && [ -f "$dv_dir/run/master.pid" ]; then
		cat "$dv_dir/run/master.pid"
	fi
}

dv_stop() {
	local pid
	pid=$(dv_master_pid)
	[ -n "$pid" ] && stop_pid "$pid"
	return 0
}
