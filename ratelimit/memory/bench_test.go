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
		if _, err := l.Allow(ctx, keys[i%len(keys)], limit); err != nil {
			b.Fatal(err)
		}
	}
}
