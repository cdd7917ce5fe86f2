// Package e2e holds the operator console's tests in a real browser:
// headless Chromium (Debian's chromium package, NOTIFY_TEST_CHROMIUM)
// driven by chromedp, against a Dispatcher on PostgreSQL
// (NOTIFY_TEST_POSTGRES_URL), and the benchmark of the queues page over a
// log of a million deliveries. It is a module of its own so that the
// console's module does not depend on chromedp.
package e2e
