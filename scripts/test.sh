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
NOTIFY_TMP=$(mktemp -d /tmp/notify-test.XXXXXX)
CLEANUP+=("rm -rf '$NOTIFY_TMP'")
for f in scripts/services/*.sh; do
	[ -e "$f" ] || continue
	# shellcheck source=/dev/null
	source "$f"
done
go test -race -count=1 -timeout 12m "$@" ./...
