package postgres_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/gonotify/notify/postgres"
)

// BenchmarkDrainBacklog drains a backlog of 100,000 and of 1,000,000 ready
// jobs (one queue) with 4 receivers leasing 64 at a time and acking each
// batch, and reports jobs/s. The statistics are stale, as after a bulk
// enqueue into a quiet system: ANALYZE ran when the table held only leased
// jobs. The fetch's cost must not grow with the backlog: the two rates
// should be within 20 %. Loading is not timed; run with -benchtime=1x.
func BenchmarkDrainBacklog(b *testing.B) {
	for _, n := range []int{100_000, 1_000_000} {
		b.Run(map[int]string{100_000: "100k", 1_000_000: "1M"}[n], func(b *testing.B) {
			pool, schema := testDB(b)
			q := newPG(b, pool, postgres.Config{Schema: schema, Visibility: time.Minute}).Queue()
			var drained time.Duration
			for range b.N {
				b.StopTimer()
				mustExec(b, pool, schema,
					`INSERT INTO {{schema}}.queue_jobs (queue, id, run_at, lease, lease_until, delivery)
						SELECT 'push', 'leased-' || g, now() - interval '2 hours', g, now() + interval '1 hour', '{}'
						FROM generate_series(1, 500) g`,
					`ANALYZE {{schema}}.queue_jobs`,
					`DELETE FROM {{schema}}.queue_jobs`)
				_, err := pool.Exec(b.Context(), `INSERT INTO `+schemaTable(schema, "queue_jobs")+` (queue, id, run_at, delivery)
					SELECT 'push', 'j-' || g, now() - interval '1 hour' + g * interval '1 microsecond', '{}'
					FROM generate_series(1, $1::int) g`, n)
				require.NoError(b, err)
				b.StartTimer()
				start := time.Now()
				drain(b, q, n)
				drained += time.Since(start)
			}
			b.ReportMetric(float64(n*b.N)/drained.Seconds(), "jobs/s")
		})
	}
}

// drain receives and acks n jobs of queue "push" with 4 receivers.
func drain(b *testing.B, q *postgres.Queue, n int) {
	var left atomic.Int64
	left.Store(int64(n))
	ctx, cancel := context.WithCancel(b.Context())
	defer cancel()
	var wg sync.WaitGroup
	errs := make([]error, 4)
	for i := range errs {
		wg.Go(func() {
			for left.Load() > 0 {
				ls, err := q.Receive(ctx, "push", 64)
				if errors.Is(err, context.Canceled) {
					return
				}
				if err == nil {
					err = q.Ack(ctx, ls...)
				}
				if err != nil {
					errs[i] = err
					cancel()
					return
				}
				if left.Add(-int64(len(ls))) <= 0 {
					cancel()
				}
			}
		})
	}
	wg.Wait()
	require.NoError(b, errors.Join(errs...))
	require.LessOrEqual(b, left.Load(), int64(0))
}
