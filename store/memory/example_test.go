package memory_test

import (
	"context"
	"fmt"
	"time"

	"github.com/gonotify/notify"
	"github.com/gonotify/notify/store/memory"
)

func Example() {
	ctx := context.Background()
	s := memory.New(memory.Config{MaxNotifications: 10_000, Retention: 72 * time.Hour})

	_ = s.PutContact(ctx, notify.Contact{UserID: "u1", Phone: "+15550100", Email: "ana@example.com"})
	_ = s.SetPreference(ctx, "u1", "marketing", notify.ChannelSMS, false)
	c, _ := s.Consent(ctx, "u1", "marketing", notify.ChannelSMS)
	fmt.Println("marketing by SMS:", c)

	ev := notify.Event{DeliveryID: "d1", NotificationID: "n1", Channel: notify.ChannelEmail, At: time.Now()}
	for _, st := range []notify.Status{notify.StatusQueued, notify.StatusRetrying, notify.StatusSent} {
		ev.Status = st
		_ = s.Record(ctx, ev)
	}
	state, _ := s.State(ctx, "d1")
	fmt.Println(state.Status, "after", state.Attempts, "attempts")
	// Output:
	// marketing by SMS: opted_out
	// sent after 2 attempts
}
