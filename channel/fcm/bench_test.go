package fcm_test

import (
	"context"
	"testing"
	"time"

	"github.com/gonotify/notify"
)

// BenchmarkSendBatch measures pushes/s through SendBatch (the SDK's
// SendEach: one HTTP request per message, 50 at a time) to the local FCM
// server, in batches of 500. The local server runs on the same CPUs, so the
// figure is a floor for the client side.
func BenchmarkSendBatch(b *testing.B) {
	ch, _ := setup(b, nil)
	ds := make([]*notify.Delivery, 500)
	for i := range ds {
		ds[i] = delivery(b, tok(i), nil)
	}
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	for sent := 0; sent < b.N; {
		n := min(len(ds), b.N-sent)
		_, errs := ch.SendBatch(ctx, ds[:n])
		for _, err := range errs {
			if err != nil {
				b.Fatal(err)
			}
		}
		sent += n
	}
	elapsed := time.Since(start)
	b.StopTimer()
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "pushes/s")
}

// BenchmarkValidate measures the accept-side check Send runs per delivery,
// the SDK's offline validation included.
func BenchmarkValidate(b *testing.B) {
	ch, _ := setup(b, nil)
	d := delivery(b, tok(1), map[string]any{"android_collapse_key": "c", "android_priority": "high"})
	b.ReportAllocs()
	for b.Loop() {
		if err := ch.Validate(d); err != nil {
			b.Fatal(err)
		}
	}
}
