// Package bench compares notify's PostgreSQL backends with River
// (github.com/riverqueue/river) on the same PostgreSQL in the same run. It is
// a module of its own so that the notify module never depends on River.
//
// Run (a throwaway server, as `make test` starts one, or any PostgreSQL):
//
//	cd bench && NOTIFY_TEST_POSTGRES_URL=postgres://... \
//	  go test -run '^$' -bench . -benchtime 20000x -count 3
//
// Every benchmark reports jobs/s (or notifications/s) and roundtrips/job:
// statements (and batches) sent to PostgreSQL per job, counted by a pgx
// tracer on the pool the library under test uses.
package bench

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/rivermigrate"

	"github.com/gonotify/notify"
	"github.com/gonotify/notify/internal/testenv"
	"github.com/gonotify/notify/postgres"
)

const (
	insertBatch = 1000 // jobs per Enqueue / InsertManyFast
	workers     = 64   // concurrent workers on each side
	fetchBatch  = 64   // jobs per fetch on each side
	senders     = 64   // concurrent Send callers in BenchmarkPipeline
)

// roundTrips counts statements, batches and COPYs sent to PostgreSQL.
type roundTrips struct{ n atomic.Int64 }

func (r *roundTrips) TraceQueryStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceQueryStartData) context.Context {
	r.n.Add(1)
	return ctx
}
func (r *roundTrips) TraceQueryEnd(context.Context, *pgx.Conn, pgx.TraceQueryEndData) {}
func (r *roundTrips) TraceBatchStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceBatchStartData) context.Context {
	r.n.Add(1)
	return ctx
}
func (r *roundTrips) TraceBatchQuery(context.Context, *pgx.Conn, pgx.TraceBatchQueryData) {}
func (r *roundTrips) TraceBatchEnd(context.Context, *pgx.Conn, pgx.TraceBatchEndData)     {}
func (r *roundTrips) TraceCopyFromStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceCopyFromStartData) context.Context {
	r.n.Add(1)
	return ctx
}
func (r *roundTrips) TraceCopyFromEnd(context.Context, *pgx.Conn, pgx.TraceCopyFromEndData) {}

// setup connects a pool that counts round trips and creates a schema of the
// benchmark's own, dropped at the end.
func setup(b *testing.B) (*pgxpool.Pool, string, *roundTrips) {
	b.Helper()
	url := testenv.Need(b, "NOTIFY_TEST_POSTGRES_URL", "PostgreSQL")
	ctx := context.Background()
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		b.Fatal(err)
	}
	rt := &roundTrips{}
	cfg.ConnConfig.Tracer = rt
	cfg.MaxConns = workers + 8
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		b.Fatal(err)
	}
	var buf [6]byte
	_, _ = rand.Read(buf[:])
	schema := "bench_" + hex.EncodeToString(buf[:])
	b.Cleanup(func() {
		_, _ = pool.Exec(context.Background(), "DROP SCHEMA IF EXISTS "+schema+" CASCADE")
		pool.Close()
	})
	return pool, schema, rt
}

func delivery(i int) *notify.Delivery {
	id := fmt.Sprintf("d-%09d", i)
	return &notify.Delivery{
		ID: id, NotificationID: "n-" + id, EventID: "e-" + id, Category: "default", Channel: "push",
		Address: "device-token-" + id, CreatedAt: time.Now(),
		Message: notify.Message{Title: "Order shipped", Body: "Your order " + id + " is on its way"},
	}
}

func report(b *testing.B, n int, elapsed time.Duration, rts int64, unit string) {
	b.ReportMetric(float64(n)/elapsed.Seconds(), unit+"/s")
	b.ReportMetric(float64(rts)/float64(n), "roundtrips/"+unit)
	b.ReportMetric(0, "ns/op")
}

// BenchmarkQueue: enqueue b.N jobs in batches, then receive and ack them
// with no work, on notify's postgres.Queue and on River.
func BenchmarkQueue(b *testing.B) {
	b.Run("notify", benchNotifyQueue)
	b.Run("river", func(b *testing.B) { benchRiverQueue(b, workers) })
}

func benchNotifyQueue(b *testing.B) {
	pool, schema, rt := setup(b)
	ctx := context.Background()
	pg := migrated(b, pool, schema)
	q := pg.Queue()
	n := b.N
	jobs := make([]notify.Job, n)
	for i := range jobs {
		d := delivery(i)
		jobs[i] = notify.Job{ID: d.ID, Queue: "bench", Delivery: d}
	}
	rt.n.Store(0)
	b.ResetTimer()
	start := time.Now()
	for i := 0; i < n; i += insertBatch {
		if err := q.Enqueue(ctx, jobs[i:min(i+insertBatch, n)]...); err != nil {
			b.Fatal(err)
		}
	}
	var done atomic.Int64
	rctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	// workers/fetchBatch fetchers, each acking its batch: the same
	// concurrency as River's client below.
	for range workers / fetchBatch * 4 {
		wg.Go(func() {
			for rctx.Err() == nil {
				ls, err := q.Receive(rctx, "bench", fetchBatch)
				if err != nil {
					return
				}
				if err := q.Ack(rctx, ls...); err != nil {
					b.Error(err)
					return
				}
				if done.Add(int64(len(ls))) >= int64(n) {
					cancel()
				}
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	cancel()
	report(b, n, elapsed, rt.n.Load(), "job")
}

type noopArgs struct {
	Delivery *notify.Delivery `json:"delivery"`
}

func (noopArgs) Kind() string { return "noop" }

type noopWorker struct {
	river.WorkerDefaults[noopArgs]
}

func (noopWorker) Work(context.Context, *river.Job[noopArgs]) error { return nil }

// newRiver migrates River into schema and returns a client with a no-op
// worker and MaxWorkers maxWorkers, tuned for throughput.
func newRiver(b *testing.B, pool *pgxpool.Pool, schema string, maxWorkers int) *river.Client[pgx.Tx] {
	b.Helper()
	ctx := context.Background()
	driver := riverpgxv5.New(pool)
	m, err := rivermigrate.New(driver, &rivermigrate.Config{Schema: schema, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		b.Fatal(err)
	}
	if _, err := pool.Exec(ctx, "CREATE SCHEMA "+schema); err != nil {
		b.Fatal(err)
	}
	if _, err := m.Migrate(ctx, rivermigrate.DirectionUp, nil); err != nil {
		b.Fatal(err)
	}
	ws := river.NewWorkers()
	river.AddWorker(ws, noopWorker{})
	c, err := river.NewClient(driver, &river.Config{
		Schema:            schema,
		Queues:            map[string]river.QueueConfig{river.QueueDefault: {MaxWorkers: maxWorkers}},
		Workers:           ws,
		FetchCooldown:     time.Millisecond, // tuned for throughput (default 100ms)
		FetchPollInterval: 50 * time.Millisecond,
		Logger:            slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		b.Fatal(err)
	}
	return c
}

// benchRiverQueue is BenchmarkQueue/river with MaxWorkers maxWorkers.
func benchRiverQueue(b *testing.B, maxWorkers int) {
	pool, schema, rt := setup(b)
	ctx := context.Background()
	c := newRiver(b, pool, schema, maxWorkers)
	n := b.N
	params := make([]river.InsertManyParams, n)
	for i := range params {
		params[i] = river.InsertManyParams{Args: noopArgs{Delivery: delivery(i)}}
	}
	events, unsub := c.SubscribeConfig(&river.SubscribeConfig{Kinds: []river.EventKind{river.EventKindJobCompleted}, ChanSize: n + 1000})
	defer unsub()
	rt.n.Store(0)
	b.ResetTimer()
	start := time.Now()
	for i := 0; i < n; i += insertBatch {
		if _, err := c.InsertManyFast(ctx, params[i:min(i+insertBatch, n)]); err != nil {
			b.Fatal(err)
		}
	}
	if err := c.Start(ctx); err != nil {
		b.Fatal(err)
	}
	for range n {
		<-events
	}
	elapsed := time.Since(start)
	b.StopTimer()
	rts := rt.n.Load()
	sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	_ = c.Stop(sctx)
	report(b, n, elapsed, rts, "job")
}

// noopChannel accepts every delivery and counts.
type noopChannel struct {
	n    atomic.Int64
	want int64
	done chan struct{}
}

func (c *noopChannel) Name() string { return "push" }
func (c *noopChannel) Send(context.Context, *notify.Delivery) (notify.Result, error) {
	if c.n.Add(1) == c.want {
		close(c.done)
	}
	return notify.Result{ProviderID: "p"}, nil
}

// BenchmarkPipeline: Send b.N notifications (64 concurrent callers, one
// notification per Send, each with an event ID) while a Dispatcher runs:
// dedup claim, log, queue, then lease, state check, send on a no-op channel,
// log, ack. Compare concurrent's notifications/s with BenchmarkQueue/river's
// jobs/s.
func BenchmarkPipeline(b *testing.B) {
	b.Run("concurrent", func(b *testing.B) { benchPipeline(b, senders, workers) })
	// One caller and one worker: nothing to combine, so roundtrips/notification
	// is the unbatched cost of one notification.
	b.Run("serial", func(b *testing.B) { benchPipeline(b, 1, 1) })
}

func benchPipeline(b *testing.B, senders, workers int) {
	pool, schema, rt := setup(b)
	ctx := context.Background()
	pg := migrated(b, pool, schema)
	q, s, dd := pg.Queue(), pg.Store(), pg.Deduper()
	n := b.N
	ch := &noopChannel{want: int64(n), done: make(chan struct{})}
	d := pipelineDispatcher(b, q, s, dd, ch, workers)
	rctx, stop := context.WithCancel(ctx)
	ran := make(chan struct{})
	go func() { _ = d.Run(rctx); close(ran) }()
	defer func() { stop(); <-ran }()

	rt.n.Store(0)
	b.ResetTimer()
	start := time.Now()
	var next atomic.Int64
	var wg sync.WaitGroup
	for range senders {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				_, err := d.Send(ctx, notify.Notification{
					EventID: fmt.Sprintf("order-%d-shipped", i),
					To:      []notify.Address{{Channel: "push", Value: fmt.Sprintf("device-token-%d", i)}},
					Content: &notify.Message{Title: "Order shipped", Body: fmt.Sprintf("Your order %d is on its way", i)},
				})
				if err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	<-ch.done
	elapsed := time.Since(start)
	b.StopTimer()
	report(b, n, elapsed, rt.n.Load(), "notification")
}

// migrated returns a postgres.Backend on schema of pool, migrated, closed
// when b ends.
func migrated(b *testing.B, pool *pgxpool.Pool, schema string) *postgres.Backend {
	b.Helper()
	pg, err := postgres.New(pool, postgres.Config{Schema: schema})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { pg.Close() })
	if err := pg.Migrate(context.Background()); err != nil {
		b.Fatal(err)
	}
	return pg
}

// pipelineDispatcher returns the benchmarks' Dispatcher over q, s and dd,
// delivering to ch with n workers and the pipeline's fetch batch.
func pipelineDispatcher(b *testing.B, q notify.Queue, s notify.Store, dd notify.Deduper, ch notify.Channel, n int) *notify.Dispatcher {
	b.Helper()
	d, err := notify.New(notify.Config{
		Queue: q, Store: s, Deduper: dd, Channels: []notify.Channel{ch},
		DefaultWorkers: n, ReceiveBatch: fetchBatch,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		b.Fatal(err)
	}
	return d
}
