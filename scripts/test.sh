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
# free_port PORT prints PORT, or the next port up that nothing listens on:
# another run, or a server left behind by a killed one, may hold it.
free_port() {
	local p=$1
	while (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; do p=$((p + 1)); done
	echo "$p"
}
NOTIFY_TMP=$(mktemp -d /tmp/notify-test.XXXXXX)
CLEANUP+=("rm -rf '$NOTIFY_TMP'")
for f in scripts/services/*.sh; do
	[ -e "$f" ] || continue
	# shellcheck source=/dev/null
	source "$f"
done
go test -race -count=1 -timeout 12m "$@" ./...
