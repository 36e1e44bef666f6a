# contrib/bench/postfix.sh: a private Postfix instance, set up as a
# backup MX for example.test, for the benchmarks to measure StrataMail
# against. Source it after contrib/lib.sh (it uses log, die and
# free_port).
#
#   pf_install              install Debian's postfix package if missing
#                           (it ships smtp-source and smtp-sink) and put
#                           its programs on PATH
#   pf_setup DIR NAME RELAY write a private instance into DIR (config,
#                           queue, data, log) that listens on a free
#                           loopback port and relays example.test to
#                           127.0.0.1:RELAY; NAME tags its log lines.
#                           Sets pf_dir, pf_etc and pf_smtp.
#   pf_start                start it and wait for its SMTP listener
#   pf_stop                 stop it (the master by its PID); safe to call
#                           when it never started
#   pf_count                the number of messages postqueue lists
#   pf_files [SUBQUEUE...]  the number of queue files in the named
#                           subqueues (default: all that hold mail); cheap
#                           enough to poll
#
# The instance has its own queue_directory and data_directory, no
# chroot, no DNS, and listens on 127.0.0.1 only; /etc/postfix and the
# system's services are left alone. Its clients are not in mynetworks,
# so it treats them like the Internet: it relays for example.test only.

pf_dir=
pf_etc=
pf_smtp=
pf_started=

# pf_install: Postfix's debconf question is preseeded to "Local only" so
# that the install does not prompt.
pf_install() {
	if ! command -v smtp-source >/dev/null 2>&1 &&
		! [ -x /usr/sbin/smtp-source ]; then
		log "installing postfix"
		export DEBIAN_FRONTEND=noninteractive
		echo "postfix postfix/main_mailer_type select Local only" |
			debconf-set-selections
		echo "postfix postfix/mailname string localhost" |
			debconf-set-selections
		apt-get -o DPkg::Lock::Timeout=900 update -qq
		apt-get -o DPkg::Lock::Timeout=900 install -y -qq postfix \
			>/dev/null
	fi
	export PATH=$PATH:/usr/sbin:/usr/lib/postfix/sbin
}

pf_setup() {
	local relay=$3
	pf_dir=$1
	pf_etc=$1/etc
	free_port pf_smtp
	mkdir -p "$pf_dir/etc" "$pf_dir/queue" "$pf_dir/data" "$pf_dir/log"
	chown postfix "$pf_dir/data"
	# The postfix user must reach its data_directory.
	chmod 755 "$(dirname "$pf_dir")"
	cat >"$pf_etc/main.cf" <<EOF
# Private backup MX for example.test, written by contrib/bench/postfix.sh.
compatibility_level = 3.6
queue_directory = $pf_dir/queue
data_directory = $pf_dir/data
maillog_file = $pf_dir/log/maillog
maillog_file_prefixes = $pf_dir
syslog_name = postfix-$2
myhostname = backupmx.localhost
mydomain = localhost
myorigin = \$myhostname
mydestination =
local_recipient_maps =
alias_maps =
alias_database =
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
# The benchmark's clients are not trusted: they relay only to example.test.
mynetworks =
smtpd_relay_restrictions = permit_mynetworks, reject_unauth_destination
relay_domains = example.test
relay_recipient_maps =
relay_transport = relay:[127.0.0.1]:$relay
smtpd_peername_lookup = no
smtp_dns_support_level = disabled
biff = no
EOF
	# Debian's services, none chrooted, smtpd on a high loopback port.
	cat >"$pf_etc/master.cf" <<EOF
127.0.0.1:$pf_smtp inet n - n - - smtpd
pickup     unix n - n 60    1 pickup
cleanup    unix n - n -     0 cleanup
qmgr       unix n - n 300   1 qmgr
tlsmgr     unix - - n 1000? 1 tlsmgr
rewrite    unix - - n -     - trivial-rewrite
bounce     unix - - n -     0 bounce
defer      unix - - n -     0 bounce
trace      unix - - n -     0 bounce
verify     unix - - n -     1 verify
flush      unix n - n 1000? 0 flush
proxymap   unix - - n -     - proxymap
proxywrite unix - - n -     1 proxymap
smtp       unix - - n -     - smtp
relay      unix - - n -     - smtp
showq      unix n - n -     - showq
error      unix - - n -     - error
retry      unix - - n -     - error
discard    unix - - n -     - discard
local      unix - n n -     - local
virtual    unix - n n -     - virtual
lmtp       unix - - n -     - lmtp
anvil      unix - - n -     1 anvil
scache     unix - - n -     1 scache
postlog    unix-dgram n - n - 1 postlogd
EOF
}

pf_start() {
	local err=$pf_dir/log/start.err
	pf_started=1
	postfix -c "$pf_etc" start >/dev/null 2>"$err" ||
		{ cat "$err" >&2; die "postfix did not start"; }
	for _ in $(seq 50); do
		(exec 3<>"/dev/tcp/127.0.0.1/$pf_smtp") 2>/dev/null && return 0
		sleep 0.2
	done
	die "postfix does not listen on 127.0.0.1:$pf_smtp"
}

# pf_master_pid prints the PID the instance's master wrote, if any.
pf_master_pid() {
	tr -d ' ' <"$pf_dir/queue/pid/master.pid" 2>/dev/null
}

pf_stop() {
	[ -n "$pf_started" ] || return 0
	local mpid
	mpid=$(pf_master_pid)
	postfix -c "$pf_etc" stop >/dev/null 2>&1
	if [ -n "$mpid" ]; then
		for _ in $(seq 50); do
			kill -0 "$mpid" 2>/dev/null || break
			sleep 0.2
		done
		kill -0 "$mpid" 2>/dev/null && kill -KILL "$mpid"
	fi
	pf_started=
}

pf_count() {
	local out
	out=$(postqueue -c "$pf_etc" -p) || { echo "?"; return; }
	case $out in
	*"Mail queue is empty"*) echo 0 ;;
	*) printf '%s\n' "$out" | tail -n 1 | awk '{ print $5 }' ;;
	esac
}

pf_files() {
	local q=$pf_dir/queue sub dirs=()
	[ $# -gt 0 ] || set -- maildrop incoming active deferred hold
	for sub in "$@"; do dirs+=("$q/$sub"); done
	find "${dirs[@]}" -type f 2>/dev/null | wc -l
}
