package memory_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/gonotify/notify"
	"github.com/gonotify/notify/ratelimit/memory"
)

// BenchmarkAllow counts events over many keys, as the Dispatcher does per
// user and category.
func BenchmarkAllow(b *testing.B) {
	ctx := context.Background()
	l := memory.New(memory.Config{})
	keys := make([]string, 10_000)
	for i := range keys {
		keys[i] = fmt.Sprint("user-", i, ":chat")
	}
	limit := notify.Limit{Rate: 1000, Per: time.Second}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := l.Allow(ctx, notify.LimitRequest{Key: keys[i%len(keys)], Limit: limit}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkAllowID is the Dispatcher's pattern: each notification asks
// once per delivery (five here: three devices, email, SMS) with its ID, so
// one Allow in five counts and four find the ID counted; ops are Allows.
func BenchmarkAllowID(b *testing.B) {
	ctx := context.Background()
	l := memory.New(memory.Config{})
	keys := make([]string, 10_000)
	for i := range keys {
		keys[i] = fmt.Sprint("user-", i, ":chat")
	}
	ids := make([]string, 1<<16)
	for i := range ids {
		ids[i] = fmt.Sprintf("0192a4c0-0000-7000-8000-%012d", i)
	}
	limit := notify.Limit{Rate: 1000, Per: time.Second}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		n := i / 5 // the notification
		req := notify.LimitRequest{Key: keys[n%len(keys)], ID: ids[n%len(ids)], Limit: limit}
		if _, err := l.Allow(ctx, req); err != nil {
			b.Fatal(err)
		}
	}
}
