package memory_test

import (
	"context"
	"fmt"
	"time"

	"github.com/gonotify/notify/dedup/memory"
)

// The first Send of an event claims its ID; a repeat learns which
// notification holds it.
func Example() {
	ctx := context.Background()
	d := memory.New(memory.Config{MaxKeys: 100_000})
	won, _, _ := d.Claim(ctx, "order-42-shipped", "notif-1", 24*time.Hour)
	fmt.Println("first claim won:", won)
	won, holder, _ := d.Claim(ctx, "order-42-shipped", "notif-2", 24*time.Hour)
	fmt.Println("repeat won:", won, "holder:", holder)

	// A Send that failed to enqueue releases its claim so a retry can win.
	_ = d.Release(ctx, "order-42-shipped", "notif-1")
	won, _, _ = d.Claim(ctx, "order-42-shipped", "notif-3", 24*time.Hour)
	fmt.Println("after release:", won)
	// Output:
	// first claim won: true
	// repeat won: false holder: notif-1
	// after release: true
}
