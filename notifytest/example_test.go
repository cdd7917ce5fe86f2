package notifytest_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/gonotify/notify"
	dedupmem "github.com/gonotify/notify/dedup/memory"
	"github.com/gonotify/notify/notifytest"
	queuemem "github.com/gonotify/notify/queue/memory"
	storemem "github.com/gonotify/notify/store/memory"
)

// A fake SMS channel whose first attempt at every delivery fails, behind a
// Dispatcher on in-memory backends: the test sees the retry and exactly one
// delivery.
func ExampleChannel() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	sms := notifytest.NewChannel(notify.ChannelSMS).FailFirst(1, nil)
	store := storemem.New(storemem.Config{})
	d, err := notify.New(notify.Config{
		Queue:    queuemem.New(queuemem.Config{}),
		Store:    store,
		Deduper:  dedupmem.New(dedupmem.Config{}),
		Channels: []notify.Channel{sms},
		Retry:    notify.RetryPolicy{BaseDelay: time.Millisecond},
		Logger:   slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	_ = store.PutContact(ctx, notify.Contact{UserID: "u1", Phone: "+15550100"})
	r, err := d.Send(ctx, notify.Notification{EventID: "order-42-shipped", UserID: "u1", Content: &notify.Message{Body: "Shipped!"}})
	if err != nil {
		fmt.Println(err)
		return
	}

	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- d.Run(runCtx) }()
	if err := sms.WaitSent(ctx, 1); err != nil {
		fmt.Println(err)
	}
	stop()
	<-done

	id := r.Deliveries[0].ID
	fmt.Println("calls:", sms.CallCount(id), "sent:", sms.SentCount(id), "duplicates:", len(sms.Duplicates()))
	for _, c := range sms.Calls() {
		fmt.Printf("attempt %d: %v\n", c.Delivery.Attempt, errors.Is(c.Err, notifytest.ErrScripted))
	}
	fmt.Println("body:", sms.Sent()[0].Message.Body)
	// Output:
	// calls: 2 sent: 1 duplicates: 0
	// attempt 1: true
	// attempt 2: false
	// body: Shipped!
}

// OnSend decides every outcome from the delivery itself.
func ExampleChannel_OnSend() {
	email := notifytest.NewChannel(notify.ChannelEmail).OnSend(func(d *notify.Delivery) (notify.Result, error) {
		if d.Address == "gone@example.com" {
			return notify.Result{}, notify.InvalidRecipient(errors.New("mailbox does not exist"))
		}
		return notify.Result{ProviderID: "msg-" + d.ID}, nil
	})
	res, err := email.Send(context.Background(), &notify.Delivery{ID: "d1", Address: "ana@example.com"})
	fmt.Println(res.ProviderID, err)
	_, err = email.Send(context.Background(), &notify.Delivery{ID: "d2", Address: "gone@example.com"})
	fmt.Println(notify.Classify(err).Outcome)
	// Output:
	// msg-d1 <nil>
	// invalid recipient
}
