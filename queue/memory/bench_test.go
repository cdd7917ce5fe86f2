package memory_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/gonotify/notify"
	"github.com/gonotify/notify/queue/memory"
)

// BenchmarkCycle measures one job's trip: Enqueue, Receive and Ack, in
// batches of the given size. ns/op and allocs/op are per job.
func BenchmarkCycle(b *testing.B) {
	for _, batch := range []int{1, 32} {
		b.Run(fmt.Sprintf("batch=%d", batch), func(b *testing.B) {
			ctx := context.Background()
			q := memory.New(memory.Config{})
			defer q.Close()
			jobs := make([]notify.Job, batch)
			ids := make([]string, batch*1024)
			for i := range ids {
				ids[i] = fmt.Sprint("job-", i)
			}
			d := &notify.Delivery{Channel: "sms"}
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i += batch {
				for k := range jobs {
					jobs[k] = notify.Job{ID: ids[(i+k)%len(ids)], Queue: "notify.sms", Delivery: d}
				}
				if err := q.Enqueue(ctx, jobs...); err != nil {
					b.Fatal(err)
				}
				ls, err := q.Receive(ctx, "notify.sms", batch)
				if err != nil {
					b.Fatal(err)
				}
				if err := q.Ack(ctx, ls...); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkParallel runs Enqueue, Receive and Ack from every P at once on
// one queue.
func BenchmarkParallel(b *testing.B) {
	ctx := context.Background()
	q := memory.New(memory.Config{})
	defer q.Close()
	d := &notify.Delivery{Channel: "sms"}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		ids := make([]string, 1024)
		base := fmt.Sprintf("%p-", &ids)
		for i := range ids {
			ids[i] = fmt.Sprint(base, i)
		}
		i := 0
		for pb.Next() {
			if err := q.Enqueue(ctx, notify.Job{ID: ids[i%len(ids)], Queue: "notify.sms", Delivery: d}); err != nil {
				b.Fatal(err)
			}
			i++
			ls, err := q.Receive(ctx, "notify.sms", 1)
			if err != nil {
				b.Fatal(err)
			}
			if err := q.Ack(ctx, ls...); err != nil {
				b.Fatal(err)
			}
		}
	})
}
