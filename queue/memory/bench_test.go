package memory_test

import (
	"context"
	"fmt"
	"runtime"
	"strconv"
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

// BenchmarkDrainHeap queues a backlog of 1,000,000 jobs, drains it (Receive
// and Ack, 64 at a time) and reports the heap the Queue holds with the
// backlog queued, per job, and after the drain, each after a GC. The jobs
// share one Delivery, so what is measured is the Queue's own records.
//
//	go test -run '^$' -bench DrainHeap -benchtime 1x ./queue/memory/
func BenchmarkDrainHeap(b *testing.B) {
	const n, batch = 1_000_000, 1000
	ctx := context.Background()
	d := &notify.Delivery{Channel: "sms"}
	for b.Loop() {
		before := heapInUse()
		q := memory.New(memory.Config{MaxJobs: -1})
		jobs := make([]notify.Job, batch)
		for i := 0; i < n; i += batch {
			for k := range jobs {
				jobs[k] = notify.Job{ID: "job-" + strconv.Itoa(i+k), Queue: "notify.sms", Delivery: d}
			}
			if err := q.Enqueue(ctx, jobs...); err != nil {
				b.Fatal(err)
			}
		}
		jobs = nil
		full := heapInUse()
		for left := n; left > 0; {
			ls, err := q.Receive(ctx, "notify.sms", 64)
			if err != nil {
				b.Fatal(err)
			}
			if err := q.Ack(ctx, ls...); err != nil {
				b.Fatal(err)
			}
			left -= len(ls)
		}
		after := heapInUse()
		b.ReportMetric(float64(full-before)/n, "B/queued-job")
		b.ReportMetric(float64(after-before)/(1<<20), "MiB-after-drain")
		runtime.KeepAlive(q)
	}
}

// heapInUse is the live heap after a full GC.
func heapInUse() int64 {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return int64(ms.HeapAlloc)
}
