package memory_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/gonotify/notify/dedup/memory"
)

// BenchmarkClaim claims a new key per op, past MaxKeys so eviction runs.
func BenchmarkClaim(b *testing.B) {
	ctx := context.Background()
	d := memory.New(memory.Config{MaxKeys: 100_000})
	keys := make([]string, 400_000)
	for i := range keys {
		keys[i] = fmt.Sprint("event-", i)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, _, err := d.Claim(ctx, keys[i%len(keys)], "n", 24*time.Hour); err != nil {
			b.Fatal(err)
		}
	}
}
