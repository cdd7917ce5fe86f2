# shellcheck shell=bash
# Headless Chromium for the operator console's browser tests
# (console/internal/e2e, driven by chromedp): Debian's chromium package,
# installed with apt-get when missing, unless NOTIFY_TEST_CHROMIUM already
# names a browser. Exports NOTIFY_TEST_CHROMIUM, the binary; the tests start
# and stop their own browser. Nothing to clean up.
# Sourced by scripts/test.sh with NOTIFY_TMP and CLEANUP in scope.
if [ -z "${NOTIFY_TEST_CHROMIUM:-}" ]; then
	if ! command -v chromium >/dev/null 2>&1; then
		echo "chromium.sh: installing chromium (apt-get)" >&2
		export DEBIAN_FRONTEND=noninteractive
		apt-get update -qq >/dev/null
		apt-get install -y -qq chromium >/dev/null || { echo "chromium.sh: apt-get install chromium failed" >&2; return 1; }
	fi
	NOTIFY_TEST_CHROMIUM=$(command -v chromium)
	export NOTIFY_TEST_CHROMIUM
fi
