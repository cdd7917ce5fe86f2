package postgres_test

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/gonotify/notify"
	"github.com/gonotify/notify/internal/benchlog"
	"github.com/gonotify/notify/postgres"
)

// BenchmarkReport times Report grouped by template and day over a log of
// NOTIFY_BENCH_REPORT_N deliveries (default 1,000,000) spread over 30 days
// and 20 templates: each queued and sent, 80 % delivered, 30 % opened, 10 %
// clicked (about 3.2 events per delivery). The log is written with one
// INSERT ... SELECT generate_series (benchlog.InsertSQL) and analyzed
// before timing.
func BenchmarkReport(b *testing.B) {
	n := benchlog.Size(b, "NOTIFY_BENCH_REPORT_N")
	pool, schema := testDB(b)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	table := pgx.Identifier{schema, "log_events"}.Sanitize()
	start := time.Now()
	_, err := pool.Exec(ctx, benchlog.InsertSQL(table), base, n)
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
