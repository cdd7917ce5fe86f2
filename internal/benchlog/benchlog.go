// Package benchlog writes the synthetic delivery log that the PostgreSQL
// benchmarks read (postgres's Report, the console's queues page): one
// statement, so a million deliveries take seconds, not an hour of Records.
package benchlog

import (
	"os"
	"strconv"
	"testing"
)

// Size returns how many deliveries a benchmark writes: the whole number in
// the environment variable env, or 1,000,000 when env is unset. A value
// that is not a positive whole number fails tb.
func Size(tb testing.TB, env string) int {
	tb.Helper()
	v := os.Getenv(env)
	if v == "" {
		return 1_000_000
	}
	n, err := strconv.Atoi(v)
	if err != nil || n <= 0 {
		tb.Fatalf("%s=%q: want a positive whole number of deliveries", env, v)
	}
	return n
}

// InsertSQL returns the INSERT ... SELECT that writes $2 deliveries into
// table, a sanitized identifier of a postgres backend's log_events table.
// The deliveries are spread evenly over the 30 days from $1 (a timestamptz),
// over 20 templates (t0 to t19), 50,000 users and the sms and email
// channels, all of category news. Each is queued and sent; 80 % are
// delivered, 30 % opened and 10 % clicked: about 3.2 events a delivery.
func InsertSQL(table string) string {
	return `INSERT INTO ` + table + ` (delivery_id, notification_id, user_id, category, channel, address, template, status, at)
		SELECT 'd' || i, 'n' || i, 'u' || (i % 50000), 'news', CASE WHEN i % 2 = 0 THEN 'email' ELSE 'sms' END, 'a',
			't' || (i % 20), s.status, $1::timestamptz + (i::float8 / $2 * 30) * interval '1 day' + s.off
		FROM generate_series(1, $2) AS i
		CROSS JOIN LATERAL (VALUES ('queued', interval '0'), ('sent', interval '1 second'),
			('delivered', interval '1 minute'), ('opened', interval '1 hour'), ('clicked', interval '2 hours')) AS s(status, off)
		WHERE s.status IN ('queued', 'sent') OR (s.status = 'delivered' AND i % 10 < 8)
			OR (s.status = 'opened' AND i % 10 < 3) OR (s.status = 'clicked' AND i % 10 < 1)`
}
