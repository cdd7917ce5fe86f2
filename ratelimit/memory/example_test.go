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
		d, _ := l.Allow(ctx, notify.LimitRequest{Key: "u1:marketing", Limit: limit})
		fmt.Printf("allowed=%v remaining=%d retry after=%v\n", d.Allowed, d.Remaining, d.RetryAfter.Round(time.Hour))
	}
	// Output:
	// allowed=true remaining=1 retry after=0s
	// allowed=true remaining=0 retry after=0s
	// allowed=false remaining=0 retry after=8h0m0s
}

// A notification sent to a user's phone, tablet and email is one event:
// each delivery asks with the notification's ID, and only the first counts.
func Example_notificationID() {
	ctx := context.Background()
	l := memory.New(memory.Config{})
	limit := notify.Limit{Rate: 3, Per: 24 * time.Hour}
	for _, delivery := range []string{"phone", "tablet", "email"} {
		d, _ := l.Allow(ctx, notify.LimitRequest{Key: "u1:chat", ID: "notification-1", Limit: limit})
		fmt.Printf("%s: allowed=%v remaining=%d\n", delivery, d.Allowed, d.Remaining)
	}
	d, _ := l.Allow(ctx, notify.LimitRequest{Key: "u1:chat", ID: "notification-2", Limit: limit})
	fmt.Printf("next notification: allowed=%v remaining=%d\n", d.Allowed, d.Remaining)
	// Output:
	// phone: allowed=true remaining=2
	// tablet: allowed=true remaining=2
	// email: allowed=true remaining=2
	// next notification: allowed=true remaining=1
}
