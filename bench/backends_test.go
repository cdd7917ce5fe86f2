package bench

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/gonotify/notify"
	dmem "github.com/gonotify/notify/dedup/memory"
	qmem "github.com/gonotify/notify/queue/memory"
	"github.com/gonotify/notify/sqlite"
	smem "github.com/gonotify/notify/store/memory"
)

// pipelineBackends are one backend family's Queue, Store and Deduper, and
// how many fsyncs (durable commits) they made so far.
type pipelineBackends struct {
	q      notify.Queue
	s      notify.Store
	dd     notify.Deduper
	fsyncs func() int64 // nil: the backend has no durability
}

// BenchmarkBackends: the full pipeline of BenchmarkPipeline/concurrent (64
// senders calling Send with an event ID, dedup + log + enqueue; 64
// workers delivering to a no-op channel, log + ack) on the memory
// backends, on one SQLite file (synchronous=FULL: every commit is an
// fsync of the write-ahead log) and on PostgreSQL (skipped without
// NOTIFY_TEST_POSTGRES_URL), in one run. fsyncs/notification: SQLite's
// commits (sqlite.Backend.WriteStats), PostgreSQL's WAL syncs
// (pg_stat_wal.wal_sync, server-wide).
func BenchmarkBackends(b *testing.B) {
	b.Run("memory", func(b *testing.B) {
		q := qmem.New(qmem.Config{})
		defer q.Close()
		benchBackends(b, pipelineBackends{q: q, s: smem.New(smem.Config{}), dd: dmem.New(dmem.Config{})})
	})
	b.Run("sqlite", func(b *testing.B) {
		db, err := sqlite.Open(filepath.Join(b.TempDir(), "notify.db"), sqlite.Config{})
		if err != nil {
			b.Fatal(err)
		}
		defer db.Close()
		if err := db.Migrate(context.Background()); err != nil {
			b.Fatal(err)
		}
		benchBackends(b, pipelineBackends{q: db.Queue(), s: db.Store(), dd: db.Deduper(),
			fsyncs: func() int64 { return int64(db.WriteStats().Commits) }})
	})
	b.Run("postgres", func(b *testing.B) {
		pool, schema, _ := setup(b)
		pg := migrated(b, pool, schema)
		benchBackends(b, pipelineBackends{q: pg.Queue(), s: pg.Store(), dd: pg.Deduper(),
			fsyncs: func() int64 { return walSyncs(b, pool) }})
	})
}

// walSyncs reads the server's count of WAL syncs.
func walSyncs(b *testing.B, pool *pgxpool.Pool) int64 {
	var n int64
	if err := pool.QueryRow(context.Background(), "SELECT wal_sync FROM pg_stat_wal").Scan(&n); err != nil {
		b.Fatalf("read pg_stat_wal: %v", err)
	}
	return n
}

func benchBackends(b *testing.B, be pipelineBackends) {
	ctx := context.Background()
	n := b.N
	ch := &noopChannel{want: int64(n), done: make(chan struct{})}
	d := pipelineDispatcher(b, be.q, be.s, be.dd, ch, workers)
	rctx, stop := context.WithCancel(ctx)
	ran := make(chan struct{})
	go func() { _ = d.Run(rctx); close(ran) }()
	defer func() { stop(); <-ran }()

	var fs0 int64
	if be.fsyncs != nil {
		fs0 = be.fsyncs()
	}
	b.ReportAllocs()
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
	b.ReportMetric(float64(n)/elapsed.Seconds(), "notifications/s")
	if be.fsyncs != nil {
		b.ReportMetric(float64(be.fsyncs()-fs0)/float64(n), "fsyncs/notification")
	}
	b.ReportMetric(0, "ns/op")
}
