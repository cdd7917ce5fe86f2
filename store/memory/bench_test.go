package memory_test

import (
	"context"
	"fmt"
	"runtime"
	"strconv"
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

// BenchmarkLiveHeap fills a log with 100,000 notifications of one
// delivery each, as the Dispatcher records them (queued, then sent), and
// reports the heap the log holds per notification after a GC
// (B/notification-live). The events' strings are made before the
// measurement starts: the log shares them with its callers.
func BenchmarkLiveHeap(b *testing.B) {
	const n = 100_000
	ctx := context.Background()
	at := time.Now()
	queued := make([]notify.Event, n)
	for i := range queued {
		nid := fmt.Sprintf("%08x-0000-4000-8000-%012x", i, i)
		queued[i] = notify.Event{DeliveryID: nid + "/sms/+1555" + strconv.Itoa(i), NotificationID: nid,
			UserID: "u" + strconv.Itoa(i%10_000), Category: "default", Channel: "sms", Address: "+1555" + strconv.Itoa(i),
			Template: "welcome", Status: notify.StatusQueued, At: at}
	}
	providerIDs := make([]string, n)
	for i := range providerIDs {
		providerIDs[i] = "SM" + strconv.Itoa(1e9+i)
	}
	b.ReportAllocs()
	var live uint64
	for b.Loop() {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		s := memory.New(memory.Config{MaxNotifications: n})
		for i, e := range queued {
			if err := s.Record(ctx, e); err != nil {
				b.Fatal(err)
			}
			e.Status, e.Attempt, e.ProviderID = notify.StatusSent, 1, providerIDs[i]
			if err := s.Record(ctx, e); err != nil {
				b.Fatal(err)
			}
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		live += after.HeapAlloc - before.HeapAlloc
		runtime.KeepAlive(s)
	}
	b.ReportMetric(float64(live)/float64(b.N)/n, "B/notification-live")
}
