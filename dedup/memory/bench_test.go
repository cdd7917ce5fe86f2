package memory_test

import (
	"context"
	"fmt"
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/gonotify/notify/dedup/memory"
)

// BenchmarkClaim claims a new key per op for 24 h, as a Dispatcher
// claims each event ID, with room for them all.
func BenchmarkClaim(b *testing.B) {
	ctx := context.Background()
	d := memory.New(memory.Config{MaxKeys: b.N + 1})
	keys := make([]string, b.N)
	for i := range keys {
		keys[i] = fmt.Sprint("event-", i)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		if ok, _, err := d.Claim(ctx, keys[i], "n", 24*time.Hour); err != nil || !ok {
			b.Fatal(ok, err)
		}
	}
}

// BenchmarkClaimHeap claims 1,000,000 event IDs for 24 h, as a Dispatcher
// does (the key an event ID, the owner a UUIDv7 notification ID, both
// garbage but for the Deduper), with MaxKeys at its default, and reports
// the heap the Deduper holds after a GC per claim and how many of the live
// claims it still holds.
//
//	go test -run '^$' -bench ClaimHeap -benchtime 1x ./dedup/memory/
func BenchmarkClaimHeap(b *testing.B) {
	const n = 1_000_000
	ctx := context.Background()
	for b.Loop() {
		before := heapInUse()
		d := memory.New(memory.Config{})
		for i := range n {
			owner, _ := uuid.NewV7()
			if _, _, err := d.Claim(ctx, "event-"+strconv.Itoa(i), owner.String(), 24*time.Hour); err != nil {
				b.Fatal(err)
			}
		}
		after := heapInUse()
		b.ReportMetric(float64(after-before)/n, "B/claim")
		b.ReportMetric(float64(d.Len()), "held")
		runtime.KeepAlive(d)
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
