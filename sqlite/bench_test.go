package sqlite_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gonotify/notify"
	"github.com/gonotify/notify/sqlite"
)

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

// BenchmarkPipeline: b.N notifications sent by 64 goroutines (Send with an
// event ID: claim, log and enqueue in one transaction) while a Dispatcher
// with 64 workers delivers them to a no-op channel (log and ack in one
// transaction), on one file with synchronous=FULL. fsyncs/notification
// counts the Backend's commits. bench/'s BenchmarkBackends runs the same
// beside the memory backends and PostgreSQL.
func BenchmarkPipeline(b *testing.B) {
	db := open(b, sqlite.Config{Synchronous: os.Getenv("SQ_SYNC")})
	ctx := context.Background()
	n := b.N
	ch := &noopChannel{want: int64(n), done: make(chan struct{})}
	d, err := notify.New(notify.Config{
		Queue: db.Queue(), Store: db.Store(), Deduper: db.Deduper(), Channels: []notify.Channel{ch},
		DefaultWorkers: 64, ReceiveBatch: 64, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		b.Fatal(err)
	}
	rctx, stop := context.WithCancel(ctx)
	ran := make(chan struct{})
	go func() { _ = d.Run(rctx); close(ran) }()
	defer func() { stop(); <-ran }()
	c0 := db.WriteStats().Commits
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	var next atomic.Int64
	var wg sync.WaitGroup
	for range 64 {
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
	b.ReportMetric(float64(db.WriteStats().Commits-c0)/float64(n), "fsyncs/notification")
	b.ReportMetric(0, "ns/op")
}
