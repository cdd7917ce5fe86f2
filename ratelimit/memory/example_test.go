package memory_test

import (
	"context"
	"fmt"
	"time"

	"github.com/gonotify/notify"
	"github.com/gonotify/notify/ratelimit/memory"
)

// Three marketing messages per user per day, at most two at once.
func Example() {
	ctx := context.Background()
	l := memory.New(memory.Config{MaxKeys: 100_000})
	limit := notify.Limit{Rate: 3, Per: 24 * time.Hour, Burst: 2}
	for range 3 {
		d, _ := l.Allow(ctx, "u1:marketing", limit)
		fmt.Printf("allowed=%v remaining=%d retry after=%v\n", d.Allowed, d.Remaining, d.RetryAfter.Round(time.Hour))
	}
	// Output:
	// allowed=true remaining=1 retry after=0s
	// allowed=true remaining=0 retry after=0s
	// allowed=false remaining=0 retry after=8h0m0s
}
