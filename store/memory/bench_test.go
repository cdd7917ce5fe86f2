package memory_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/gonotify/notify"
	"github.com/gonotify/notify/store/memory"
)

// BenchmarkDeliveryLog records what the Dispatcher records for one
// delivery on the happy path (queued, then sent) and reads its State once.
func BenchmarkDeliveryLog(b *testing.B) {
	ctx := context.Background()
	s := memory.New(memory.Config{MaxNotifications: 100_000})
	ids := make([]string, 200_000)
	for i := range ids {
		ids[i] = fmt.Sprint("d-", i)
	}
	e := notify.Event{Channel: "sms", Address: "+15550100", At: time.Now()}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		id := ids[i%len(ids)]
		e.DeliveryID, e.NotificationID, e.Status = id, id, notify.StatusQueued
		if err := s.Record(ctx, e); err != nil {
			b.Fatal(err)
		}
		if _, err := s.State(ctx, id); err != nil {
			b.Fatal(err)
		}
		e.Status = notify.StatusSent
		if err := s.Record(ctx, e); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkState is the hot-path read alone, from every P.
func BenchmarkState(b *testing.B) {
	ctx := context.Background()
	s := memory.New(memory.Config{})
	_ = s.Record(ctx, notify.Event{DeliveryID: "d", NotificationID: "n", Status: notify.StatusQueued})
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := s.State(ctx, "d"); err != nil {
				b.Fatal(err)
			}
		}
	})
}
