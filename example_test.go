package notify_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"time"

	"github.com/gonotify/notify"
	dmem "github.com/gonotify/notify/dedup/memory"
	qmem "github.com/gonotify/notify/queue/memory"
	smem "github.com/gonotify/notify/store/memory"
	"github.com/gonotify/notify/template"
)

// printChannel prints what it would send.
type printChannel struct{ name string }

func (c printChannel) Name() string { return c.name }

func (c printChannel) Send(_ context.Context, d *notify.Delivery) (notify.Result, error) {
	fmt.Printf("%s to %s: %s\n", c.name, d.Address, d.Message.Body)
	return notify.Result{ProviderID: "msg-1"}, nil
}

// A Dispatcher on the memory backends: Send on one side, Run on the other.
func Example() {
	ctx := context.Background()
	store := smem.New(smem.Config{})
	_ = store.PutContact(ctx, notify.Contact{UserID: "ana", Phone: "+15005550006"})
	tmpl := template.New(template.Config{})
	_ = tmpl.Add("code", "", template.Variants{SMS: &template.SMS{Body: "Your code is {{.code}}"}})

	d, err := notify.New(notify.Config{
		Queue: qmem.New(qmem.Config{}), Store: store, Renderer: tmpl,
		Deduper:  dmem.New(dmem.Config{}),
		Channels: []notify.Channel{printChannel{"sms"}},
		Logger:   slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	n := notify.Notification{EventID: "login:42", UserID: "ana", Critical: true, Template: "code", Data: map[string]any{"code": "4242"}}
	r, err := d.Send(ctx, n) // durably queued when it returns nil
	if err != nil {
		fmt.Println(err)
		return
	}
	again, _ := d.Send(ctx, n) // a retried request: de-duplicated
	fmt.Println("deliveries:", len(r.Deliveries), "duplicate:", again.Duplicate)

	// Workers usually start with the process; here they start after Send so
	// that the output's order is fixed.
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { _ = d.Run(runCtx); close(done) }()
	defer func() { stop(); <-done }()

	for { // wait for the worker
		st, _ := d.Status(ctx, r.NotificationID)
		if st[0].Status.Final() {
			fmt.Println("status:", st[0].Status, "attempts:", st[0].Attempts)
			break
		}
		time.Sleep(time.Millisecond)
	}
	// Output:
	// deliveries: 1 duplicate: true
	// sms to +15005550006: Your code is 4242
	// status: sent attempts: 1
}

// Bad input gets a *ValidationError that names the field; nothing is stored.
func ExampleValidationError() {
	d, _ := notify.New(notify.Config{
		Queue: qmem.New(qmem.Config{}), Store: smem.New(smem.Config{}),
		Channels: []notify.Channel{printChannel{"sms"}},
	})
	_, err := d.Send(context.Background(), notify.Notification{UserID: "ana", Channels: []string{"fax"}, Content: &notify.Message{Body: "hi"}})
	var ve *notify.ValidationError
	if errors.As(err, &ve) {
		fmt.Println(ve.Field)
		fmt.Println(err)
	}
	// Output:
	// Channels[0]
	// notify: invalid notification: Channels[0]: unknown channel "fax"; this Dispatcher has [sms]
}

// A Channel tells the Dispatcher what to do next by the error it returns.
func ExampleRetryable() {
	classify := func(status int, retryAfter time.Duration) error {
		err := fmt.Errorf("provider answered %d", status)
		switch {
		case status == http.StatusTooManyRequests, status >= 500:
			return notify.Retryable(err, retryAfter) // nack, backoff >= retryAfter
		case status == http.StatusGone:
			return notify.InvalidRecipient(err) // remove the address
		case status == http.StatusForbidden:
			return notify.ConfigError(err) // keep queued, log loudly
		default:
			return notify.Permanent(err) // give up, record why
		}
	}
	for _, s := range []int{429, 410, 403, 400} {
		oe := notify.Classify(classify(s, time.Minute))
		fmt.Println(s, oe.Outcome, oe.RetryAfter)
	}
	// Output:
	// 429 retry 1m0s
	// 410 invalid recipient 0s
	// 403 configuration error 0s
	// 400 permanent 0s
}

// A window that crosses midnight, read on a user's wall clock: on the night
// New York springs forward it ends at 07:00 all the same, an hour sooner.
func ExampleQuietHours_Until() {
	q, err := notify.ParseQuietHours("22:00-07:00")
	if err != nil {
		fmt.Println(err)
		return
	}
	ny, err := time.LoadLocation("America/New_York")
	if err != nil {
		fmt.Println(err)
		return
	}
	at := time.Date(2024, 3, 9, 22, 30, 0, 0, ny)
	end, quiet := q.Until(at)
	fmt.Println(quiet, end.Format("Mon 15:04 MST"), end.Sub(at))
	_, quiet = q.Until(end)
	fmt.Println(quiet)
	// Output:
	// true Sun 07:00 EDT 7h30m0s
	// false
}
