package notify_test

import (
	"context"
	"errors"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gonotify/notify"
)

// countingChannel is a no-op channel that counts sends and wakes the
// benchmark when the last one arrives.
type countingChannel struct {
	name string
	n    atomic.Int64
	want atomic.Int64
	done chan struct{}
	once *sync.Once
}

func (c *countingChannel) Name() string { return c.name }

func (c *countingChannel) Send(context.Context, *notify.Delivery) (notify.Result, error) {
	if c.n.Add(1) == c.want.Load() {
		c.once.Do(func() { close(c.done) })
	}
	return notify.Result{ProviderID: "ok"}, nil
}

// BenchmarkDispatcher measures Send -> delivered through the memory backends
// with dedup, rate limiting, the log and template rendering all on, and a
// no-op channel. One op is one delivery.
//
//	go test -run '^$' -bench Dispatcher -benchmem -count 6 .
func BenchmarkDispatcher(b *testing.B) {
	h := newHarness(b, func(c *notify.Config) {
		c.Categories = map[string]notify.CategoryPolicy{
			"default": {Limit: notify.Limit{Rate: 1000, Per: time.Second, Burst: 1000}},
		}
	})
	ch := &countingChannel{name: "sms", done: make(chan struct{}), once: new(sync.Once)}
	cfg := h.cfg
	cfg.Channels = []notify.Channel{ch}
	d, err := notify.New(cfg)
	if err != nil {
		b.Fatal(err)
	}
	const users = 10_000
	ctx := context.Background()
	for u := range users {
		if err := h.store.PutContact(ctx, notify.Contact{UserID: "u" + strconv.Itoa(u), Phone: "+1555000" + strconv.Itoa(u)}); err != nil {
			b.Fatal(err)
		}
	}
	// The notifications are built before the clock starts, sharing one
	// Data map (the Dispatcher never changes a notification's Data): a
	// map each would keep b.N maps alive through the run, which a caller
	// building each notification as it sends does not, and every garbage
	// collection would mark them.
	data := map[string]any{"name": "Ana"}
	ns := make([]notify.Notification, b.N)
	for i := range ns {
		ns[i] = notify.Notification{
			EventID: "bench-" + strconv.Itoa(i), UserID: "u" + strconv.Itoa(i%users),
			Template: "welcome", Data: data,
		}
	}
	ch.want.Store(int64(b.N))
	runCtx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Go(func() { _ = d.Run(runCtx) })

	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	// Producers on every core; the Dispatcher's workers compete with them,
	// as in a service that sends and delivers in one process.
	var next atomic.Int64
	var failed atomic.Bool
	var pw sync.WaitGroup
	for range 4 {
		pw.Go(func() {
			for {
				i := next.Add(1) - 1
				if i >= int64(len(ns)) {
					return
				}
				// A full queue (queue/memory's MaxJobs) pushes back,
				// as it would on a real caller: wait and send again.
				_, err := d.Send(ctx, ns[i])
				for errors.Is(err, notify.ErrQueueFull) {
					time.Sleep(time.Millisecond)
					_, err = d.Send(ctx, ns[i])
				}
				if err != nil {
					b.Error(err)
					failed.Store(true)
					return
				}
			}
		})
	}
	pw.Wait()
	if failed.Load() {
		b.FailNow() // fewer deliveries than b.N: ch.done would never close
	}
	<-ch.done
	elapsed := time.Since(start)
	b.StopTimer()
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "deliveries/s")
	cancel()
	wg.Wait()
}
