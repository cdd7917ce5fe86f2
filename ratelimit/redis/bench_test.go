package redis_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gonotify/notify"
	"github.com/gonotify/notify/internal/redistest"
	ratelimit "github.com/gonotify/notify/ratelimit/redis"
)

// benchLimit lets every event of the benchmarks through: they measure the
// cost of asking, not of being refused.
var benchLimit = notify.Limit{Rate: 1 << 20, Per: time.Hour}

func benchLimiter(b *testing.B) (*ratelimit.Limiter, *redistest.RoundTrips) {
	b.Helper()
	rdb := redistest.Client(b)
	rt := &redistest.RoundTrips{}
	rdb.AddHook(rt)
	l, err := ratelimit.New(rdb, ratelimit.Config{Prefix: redistest.Prefix(b), FailurePolicy: ratelimit.FailClosed})
	if err != nil {
		b.Fatal(err)
	}
	// Load the script, so the figures are the steady state.
	if _, err := l.Allow(context.Background(), notify.LimitRequest{Key: "warm", Limit: benchLimit}); err != nil {
		b.Fatal(err)
	}
	return l, rt
}

func report(b *testing.B, rt *redistest.RoundTrips, before int64) {
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "ops/s")
	b.ReportMetric(float64(rt.Count()-before)/float64(b.N), "roundtrips/op")
}

// BenchmarkAllow is one caller asking about 1000 users in turn: one round
// trip per Allow.
func BenchmarkAllow(b *testing.B) {
	l, rt := benchLimiter(b)
	ctx := benchCtx(b)
	before := rt.Count()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		if _, err := l.Allow(ctx, notify.LimitRequest{Key: fmt.Sprint("user-", i%1000), Limit: benchLimit}); err != nil {
			b.Fatal(err)
		}
	}
	report(b, rt, before)
}

// BenchmarkAllowID is the Dispatcher's pattern: each notification asks
// once per delivery (five: three devices, email, SMS) with its ID, so one
// Allow in five counts and four find the ID counted; ops are Allows.
func BenchmarkAllowID(b *testing.B) {
	l, rt := benchLimiter(b)
	ctx := benchCtx(b)
	before := rt.Count()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		n := i / 5 // the notification
		req := notify.LimitRequest{Key: fmt.Sprint("user-", n%1000), ID: fmt.Sprintf("0192a4c0-0000-7000-8000-%012d", n), Limit: benchLimit}
		if _, err := l.Allow(ctx, req); err != nil {
			b.Fatal(err)
		}
	}
	report(b, rt, before)
}

// BenchmarkAllowParallel is many workers asking at once (GOMAXPROCS*8
// goroutines, as a Dispatcher's worker pool would), on the client's pool of
// connections.
func BenchmarkAllowParallel(b *testing.B) {
	l, rt := benchLimiter(b)
	ctx := benchCtx(b)
	var seq atomic.Int64
	before := rt.Count()
	b.SetParallelism(8)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := l.Allow(ctx, notify.LimitRequest{Key: fmt.Sprint("user-", seq.Add(1)%1000), Limit: benchLimit}); err != nil {
				b.Error(err)
				return
			}
		}
	})
	report(b, rt, before)
}

// BenchmarkAllowBatch asks about a Dispatcher fetch's worth of deliveries
// (size) in one AllowBatch; ops are single Allows.
func BenchmarkAllowBatch(b *testing.B) {
	for _, size := range []int{8, 32, 128} {
		b.Run(fmt.Sprint("size=", size), func(b *testing.B) {
			l, rt := benchLimiter(b)
			ctx := benchCtx(b)
			reqs := make([]ratelimit.Request, size)
			for i := range reqs {
				reqs[i] = ratelimit.Request{Key: fmt.Sprint("user-", i), Limit: benchLimit}
			}
			before := rt.Count()
			n := 0
			b.ResetTimer()
			for n < b.N {
				batch := reqs[:min(size, b.N-n)]
				if _, errs := l.AllowBatch(ctx, batch); errs != nil {
					b.Fatal(errs)
				}
				n += len(batch)
			}
			report(b, rt, before)
		})
	}
}

// BenchmarkAllowBatchID is BenchmarkAllowBatch/size=32 in the Dispatcher's
// pattern: five deliveries per notification, asked with its ID, each batch
// of new notifications; ops are single Allows.
func BenchmarkAllowBatchID(b *testing.B) {
	const size = 32
	l, rt := benchLimiter(b)
	ctx := benchCtx(b)
	reqs := make([]ratelimit.Request, size)
	before := rt.Count()
	n := 0
	b.ResetTimer()
	for batchNo := 0; n < b.N; batchNo++ {
		for i := range reqs {
			reqs[i] = ratelimit.Request{Key: fmt.Sprint("user-", (batchNo*size+i)/5%1000), ID: fmt.Sprint("n-", batchNo, "-", i/5), Limit: benchLimit}
		}
		batch := reqs[:min(size, b.N-n)]
		if _, errs := l.AllowBatch(ctx, batch); errs != nil {
			b.Fatal(errs)
		}
		n += len(batch)
	}
	report(b, rt, before)
}

// benchCtx is a context with a deadline, as the Dispatcher gives every
// backend call (Config.BackendTimeout): a context that can end is what makes
// a call wait for the context as well as for Redis.
func benchCtx(b *testing.B) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), time.Hour)
	b.Cleanup(cancel)
	return ctx
}
