package postgres_test

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/gonotify/notify/internal/benchlog"
	"github.com/gonotify/notify/postgres"
)

// BenchmarkPruneIdle times a Store.Prune that finds nothing to delete, the
// usual run of a periodic prune, over a log of NOTIFY_BENCH_PRUNE_N
// deliveries (default 1,000,000; about 3.2 events each, so 3.3 million
// rows) written in the 30 days before now, with the default Retention of
// 30 days plus a day. The log is never analyzed: the prune must find its
// way through the BRIN index on the events' time without statistics, not
// read the whole table (which took 1.2 s at 3.3 million rows).
// The first Prune after the log is written summarizes the index's block
// ranges (reading the table once) and is logged, not timed.
func BenchmarkPruneIdle(b *testing.B) {
	n := benchlog.Size(b, "NOTIFY_BENCH_PRUNE_N")
	pool, schema := testDB(b)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	table := pgx.Identifier{schema, "log_events"}.Sanitize()
	pg, err := postgres.New(pool, postgres.Config{Schema: schema, Retention: 31 * 24 * time.Hour})
	require.NoError(b, err)
	defer pg.Close()
	start := time.Now()
	_, err = pool.Exec(ctx, benchlog.InsertSQL(table), time.Now().Add(-30*24*time.Hour), n)
	require.NoError(b, err)
	var rows int64
	require.NoError(b, pool.QueryRow(ctx, "SELECT count(*) FROM "+table).Scan(&rows))
	b.Logf("wrote %d deliveries (%d events) in %s, not analyzed", n, rows, time.Since(start).Round(time.Second))
	// The first Prune summarizes every block range of the new log (a read
	// of the whole table, once); the ones after it summarize only what was
	// written since.
	start = time.Now()
	_, err = pg.Store().Prune(ctx)
	require.NoError(b, err)
	b.Logf("first prune (summarizes the whole log once): %s", time.Since(start).Round(time.Millisecond))
	b.ResetTimer()
	for b.Loop() {
		deleted, err := pg.Store().Prune(ctx)
		require.NoError(b, err)
		require.Zero(b, deleted, "nothing is past Retention")
	}
	b.ReportMetric(float64(rows), "events")
}
