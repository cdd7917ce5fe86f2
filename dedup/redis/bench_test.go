package redis_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	dedup "github.com/gonotify/notify/dedup/redis"
	"github.com/gonotify/notify/internal/redistest"
)

func benchDeduper(b *testing.B) (*dedup.Deduper, *redistest.RoundTrips) {
	b.Helper()
	rdb := redistest.Client(b)
	rt := &redistest.RoundTrips{}
	rdb.AddHook(rt)
	d, err := dedup.New(rdb, dedup.Config{Prefix: redistest.Prefix(b)})
	if err != nil {
		b.Fatal(err)
	}
	return d, rt
}

func report(b *testing.B, rt *redistest.RoundTrips, before int64) {
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "ops/s")
	b.ReportMetric(float64(rt.Count()-before)/float64(b.N), "roundtrips/op")
}

// benchTTL keeps the benchmarks' keys briefly: they are only written.
const benchTTL = time.Minute

// BenchmarkClaim claims new event IDs (every claim wins) one at a time.
func BenchmarkClaim(b *testing.B) {
	d, rt := benchDeduper(b)
	ctx := benchCtx(b)
	before := rt.Count()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		if _, _, err := d.Claim(ctx, fmt.Sprint("event-", i), "n", benchTTL); err != nil {
			b.Fatal(err)
		}
	}
	report(b, rt, before)
}

// BenchmarkClaimDuplicate claims event IDs that are held (every claim loses
// and learns the holder): still one round trip.
func BenchmarkClaimDuplicate(b *testing.B) {
	d, rt := benchDeduper(b)
	ctx := benchCtx(b)
	for i := range 1000 {
		if _, _, err := d.Claim(ctx, fmt.Sprint("event-", i), "first", benchTTL); err != nil {
			b.Fatal(err)
		}
	}
	before := rt.Count()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		ok, _, err := d.Claim(ctx, fmt.Sprint("event-", i%1000), "again", benchTTL)
		if err != nil || ok {
			b.Fatal(ok, err)
		}
	}
	report(b, rt, before)
}

// BenchmarkClaimParallel is many Sends claiming at once (GOMAXPROCS*8
// goroutines) on the client's pool of connections.
func BenchmarkClaimParallel(b *testing.B) {
	d, rt := benchDeduper(b)
	ctx := benchCtx(b)
	var seq atomic.Int64
	before := rt.Count()
	b.SetParallelism(8)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, _, err := d.Claim(ctx, fmt.Sprint("event-", seq.Add(1)), "n", benchTTL); err != nil {
				b.Error(err)
				return
			}
		}
	})
	report(b, rt, before)
}

// BenchmarkClaimBatch claims a SendBatch's worth of event IDs (size) in one
// ClaimBatch; ops are single claims.
func BenchmarkClaimBatch(b *testing.B) {
	for _, size := range []int{8, 32, 128} {
		b.Run(fmt.Sprint("size=", size), func(b *testing.B) {
			d, rt := benchDeduper(b)
			ctx := benchCtx(b)
			claims := make([]dedup.Claim, size)
			before := rt.Count()
			n := 0
			b.ResetTimer()
			for n < b.N {
				batch := claims[:min(size, b.N-n)]
				for i := range batch {
					batch[i] = dedup.Claim{Key: fmt.Sprint("event-", n+i), Owner: "n", TTL: benchTTL}
				}
				if _, errs := d.ClaimBatch(ctx, batch); errs != nil {
					b.Fatal(errs)
				}
				n += len(batch)
			}
			report(b, rt, before)
		})
	}
}

// benchCtx is a context with a deadline, as the Dispatcher gives every
// backend call (Config.BackendTimeout): a context that can end is what makes
// a call wait for the context as well as for Redis.
func benchCtx(b *testing.B) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), time.Hour)
	b.Cleanup(cancel)
	return ctx
}
