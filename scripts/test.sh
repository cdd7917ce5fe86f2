#!/usr/bin/env bash
# Starts the throwaway servers the tests need (unless their NOTIFY_TEST_* variable
# is already set), runs the tests with -race, and stops what it started.
# Each file in scripts/services/ starts one service; see scripts/services/README.
set -euo pipefail
cd "$(dirname "$0")/.."
CLEANUP=()
cleanup() {
	local i
	for ((i = ${#CLEANUP[@]} - 1; i >= 0; i--)); do eval "${CLEANUP[$i]}" >/dev/null 2>&1 || true; done
}
trap cleanup EXIT
# free_port PORT prints PORT, or the next port up that no socket holds:
# another run, or a server left behind by a killed one, may listen on it, and
# the default ports lie in Linux's ephemeral range, where any outgoing
# connection (a test's, a database client's) may hold one as its local port.
free_port() {
	local p=$1
	while (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null ||
		{ command -v ss >/dev/null 2>&1 && [ -n "$(ss -Htan "sport = :$p" 2>/dev/null)" ]; }; do
		p=$((p + 1))
	done
	echo "$p"
}
# serve NAME PORT HEALTH LOG CMD... starts CMD in the background, with @PORT@
# in its arguments replaced by a free port from PORT up, and waits for
# http://127.0.0.1:<port>HEALTH to answer; it sets SERVED_PORT. A server that
# dies before it answers (its port taken between free_port and its bind) is
# started again on the next free port, three times in all.
serve() {
	local name=$1 port=$2 health=$3 log=$4 try a pid
	shift 4
	local args=()
	for try in 1 2 3; do
		port=$(free_port "$port")
		args=()
		for a in "$@"; do args+=("${a//@PORT@/$port}"); done
		"${args[@]}" >"$log" 2>&1 &
		pid=$!
		CLEANUP+=("kill $pid")
		if wait_http "$name" "http://127.0.0.1:$port$health" "$pid" "$log"; then
			SERVED_PORT=$port
			return 0
		fi
		kill "$pid" 2>/dev/null || true
		echo "$name: start $try of 3 failed on port $port" >&2
		port=$((port + 1))
	done
	return 1
}
# npm_ci DIR installs DIR's pinned npm packages unless DIR/node_modules/MARK
# exists (installing npm itself first when the machine has none).
npm_ci() {
	[ -e "$1/node_modules/$2" ] && return 0
	if ! command -v npm >/dev/null 2>&1; then
		apt-get update -qq && apt-get install -y -qq nodejs npm >/dev/null
	fi
	(cd "$1" && npm ci --no-audit --no-fund --loglevel=error)
}
# wait_http NAME URL PID LOG waits up to 15 s for URL to answer while PID
# lives; on failure it prints LOG and returns 1.
wait_http() {
	local _
	for _ in $(seq 1 150); do
		curl -fsS "$2" >/dev/null 2>&1 && return 0
		kill -0 "$3" 2>/dev/null || break
		sleep 0.1
	done
	echo "$1 did not start ($2); log:" >&2
	cat "$4" >&2
	return 1
}
NOTIFY_TMP=$(mktemp -d /tmp/notify-test.XXXXXX)
CLEANUP+=("rm -rf '$NOTIFY_TMP'")
for f in scripts/services/*.sh; do
	[ -e "$f" ] || continue
	# shellcheck source=/dev/null
	source "$f"
done
# Every module of go.work: the pattern spans them all.
go test -race -count=1 -timeout 12m "$@" github.com/gonotify/notify/...
