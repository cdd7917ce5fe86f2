package memory_test

import (
	"context"
	"fmt"
	"time"

	"github.com/gonotify/notify"
	"github.com/gonotify/notify/queue/memory"
)

// A job's life: enqueued, leased, nacked with a delay, leased again, acked.
func Example() {
	ctx := context.Background()
	q := memory.New(memory.Config{Visibility: 30 * time.Second})
	defer q.Close()

	d := &notify.Delivery{ID: "d1", Channel: "sms", Address: "+15550100"}
	_ = q.Enqueue(ctx, notify.Job{ID: d.ID, Queue: "notify.sms", Delivery: d})

	leases, _ := q.Receive(ctx, "notify.sms", 10)
	fmt.Println("leased", leases[0].Job.ID, "attempt", leases[0].Attempt)
	_ = q.Nack(ctx, leases[0], 10*time.Millisecond) // try again shortly

	st, _ := q.Stats(ctx, "notify.sms")
	fmt.Println("delayed:", st.Delayed)

	leases, _ = q.Receive(ctx, "notify.sms", 10) // blocks until the delay passes
	fmt.Println("leased", leases[0].Job.ID, "attempt", leases[0].Attempt)
	_ = q.Ack(ctx, leases...)

	st, _ = q.Stats(ctx, "notify.sms")
	fmt.Printf("%+v\n", st)
	// Output:
	// leased d1 attempt 1
	// delayed: 1
	// leased d1 attempt 2
	// {Ready:0 Delayed:0 InFlight:0 Dead:0 OldestReady:0s}
}

// A delivery that keeps failing is buried, then replayed with its attempts
// reset.
func ExampleQueue_Replay() {
	ctx := context.Background()
	q := memory.New(memory.Config{})
	defer q.Close()
	_ = q.Enqueue(ctx, notify.Job{ID: "d1", Queue: "notify.fcm", Delivery: &notify.Delivery{ID: "d1"}})
	leases, _ := q.Receive(ctx, "notify.fcm", 1)
	_ = q.Bury(ctx, leases[0], "retries exhausted")

	st, _ := q.Stats(ctx, "notify.fcm")
	fmt.Println("dead:", st.Dead)
	fmt.Println(q.Replay(ctx, "notify.fcm", "d1"))
	leases, _ = q.Receive(ctx, "notify.fcm", 1)
	fmt.Println("attempt", leases[0].Attempt)
	// Output:
	// dead: 1
	// <nil>
	// attempt 1
}
