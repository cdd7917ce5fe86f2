package apns_test

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gonotify/notify"
)

// BenchmarkSend100Concurrent measures pushes/s through one Channel to the
// local HTTP/2 APNs with 100 concurrent senders sharing one connection, the
// way a Dispatcher with 100 APNs workers uses it. The local server runs on
// the same CPUs, so the figure is a floor for the client side.
func BenchmarkSend100Concurrent(b *testing.B) {
	ch, srv := tokenSetup(b, nil)
	const senders = 100
	ds := make([]*notify.Delivery, senders)
	for i := range ds {
		ds[i] = delivery(b, tok(i), nil)
	}
	ctx := context.Background()
	// Warm up: connect and sign the JWT once.
	if _, err := ch.Send(ctx, ds[0]); err != nil {
		b.Fatal(err)
	}
	var next, failed atomic.Int64
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	var wg sync.WaitGroup
	for g := range senders {
		wg.Go(func() {
			for next.Add(1) <= int64(b.N) {
				if _, err := ch.Send(ctx, ds[g]); err != nil {
					failed.Add(1)
				}
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	if n := failed.Load(); n > 0 {
		b.Fatalf("%d of %d pushes failed", n, b.N)
	}
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "pushes/s")
	b.ReportMetric(float64(srv.Connections()), "conns")
}

// BenchmarkValidate measures the accept-side check Send runs per delivery.
func BenchmarkValidate(b *testing.B) {
	ch, _ := tokenSetup(b, nil)
	d := delivery(b, tok(1), map[string]any{"thread_id": "t", "collapse_id": "c", "sound": "default"})
	b.ReportAllocs()
	for b.Loop() {
		if err := ch.Validate(d); err != nil {
			b.Fatal(err)
		}
	}
}
