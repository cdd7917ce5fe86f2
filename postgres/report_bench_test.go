package postgres_test

import (
	"context"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/gonotify/notify"
	"github.com/gonotify/notify/postgres"
)

// BenchmarkReport times Report grouped by template and day over a log of
// NOTIFY_BENCH_REPORT_N deliveries (default 1,000,000) spread over 30 days
// and 20 templates: each queued and sent, 80 % delivered, 30 % opened, 10 %
// clicked (about 3.2 events per delivery). The log is written with one
// INSERT ... SELECT generate_series and analyzed before timing.
func BenchmarkReport(b *testing.B) {
	n := 1_000_000
	if v := os.Getenv("NOTIFY_BENCH_REPORT_N"); v != "" {
		var err error
		n, err = strconv.Atoi(v)
		require.NoError(b, err)
	}
	pool, schema := testDB(b)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	table := pgx.Identifier{schema, "log_events"}.Sanitize()
	start := time.Now()
	_, err := pool.Exec(ctx, `INSERT INTO `+table+` (delivery_id, notification_id, user_id, category, channel, address, template, status, at)
		SELECT 'd' || i, 'n' || i, 'u' || (i % 50000), 'news', CASE WHEN i % 2 = 0 THEN 'email' ELSE 'sms' END, 'a',
			't' || (i % 20), s.status, $1::timestamptz + (i::float8 / $2 * 30) * interval '1 day' + s.off
		FROM generate_series(1, $2) AS i
		CROSS JOIN LATERAL (VALUES ('queued', interval '0'), ('sent', interval '1 second'),
			('delivered', interval '1 minute'), ('opened', interval '1 hour'), ('clicked', interval '2 hours')) AS s(status, off)
		WHERE s.status IN ('queued', 'sent') OR (s.status = 'delivered' AND i % 10 < 8)
			OR (s.status = 'opened' AND i % 10 < 3) OR (s.status = 'clicked' AND i % 10 < 1)`, base, n)
	require.NoError(b, err)
	_, err = pool.Exec(ctx, "ANALYZE "+table)
	require.NoError(b, err)
	b.Logf("wrote %d deliveries in %s", n, time.Since(start).Round(time.Second))

	pg, err := postgres.New(pool, postgres.Config{Schema: schema})
	require.NoError(b, err)
	defer pg.Close()
	q := notify.ReportQuery{Since: base, Until: base.Add(31 * 24 * time.Hour), GroupBy: []string{notify.ByTemplate, notify.ByDay}}
	b.ResetTimer()
	for b.Loop() {
		rows, err := pg.Store().Report(ctx, q)
		require.NoError(b, err)
		total := 0
		for _, r := range rows {
			total += r.Deliveries
		}
		require.Equal(b, n, total)
	}
	b.ReportMetric(float64(n), "deliveries")
}
