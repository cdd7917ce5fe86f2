package notifyhttp_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http/httptest"

	"github.com/gonotify/notify"
	dmem "github.com/gonotify/notify/dedup/memory"
	"github.com/gonotify/notify/notifyhttp"
	"github.com/gonotify/notify/notifytest"
	qmem "github.com/gonotify/notify/queue/memory"
	smem "github.com/gonotify/notify/store/memory"
)

// server starts the API on memory backends and returns a Client holding
// an admin key.
func server() (*notifyhttp.Client, func()) {
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	q := qmem.New(qmem.Config{})
	d, err := notify.New(notify.Config{
		Queue: q, Store: smem.New(smem.Config{}), Deduper: dmem.New(dmem.Config{}),
		Channels: []notify.Channel{notifytest.NewChannel("sms")}, Logger: quiet,
	})
	if err != nil {
		panic(err)
	}
	keys := notifyhttp.NewMemoryKeys()
	key, secret, _ := notifyhttp.NewKey("example", notifyhttp.ScopeAdmin)
	_ = keys.PutKey(context.Background(), key)
	h, err := notifyhttp.New(notifyhttp.Config{Dispatcher: d, Keys: keys, Logger: quiet})
	if err != nil {
		panic(err)
	}
	srv := httptest.NewServer(h)
	c, err := notifyhttp.NewClient(notifyhttp.ClientConfig{BaseURL: srv.URL, KeyID: key.ID, Secret: secret})
	if err != nil {
		panic(err)
	}
	return c, func() { srv.Close(); _ = q.Close() }
}

func ExampleClient_Send() {
	c, stop := server()
	defer stop()
	ctx := context.Background()
	_ = c.PutContact(ctx, notify.Contact{UserID: "ana", Phone: "+15005550006"})

	n := notify.Notification{EventID: "order-1042-shipped", UserID: "ana", Content: &notify.Message{Body: "Shipped!"}}
	r, err := c.Send(ctx, n)
	if err != nil {
		fmt.Println(err)
		return
	}
	again, _ := c.Send(ctx, n) // a retry: de-duplicated by event ID
	fmt.Println(len(r.Deliveries), r.Deliveries[0].Channel, r.Deliveries[0].Status, again.Duplicate)
	// Output: 1 sms queued true
}

func ExampleClient_Send_validation() {
	c, stop := server()
	defer stop()
	_, err := c.Send(context.Background(), notify.Notification{Content: &notify.Message{Body: "to no one"}})
	var ve *notify.ValidationError
	if errors.As(err, &ve) {
		fmt.Println("field:", ve.Field)
	}
	// Output: field: user_id
}

func ExampleClient_StatusByEvent() {
	c, stop := server()
	defer stop()
	ctx := context.Background()
	_ = c.PutContact(ctx, notify.Contact{UserID: "ana", Phone: "+15005550006"})
	r, _ := c.Send(ctx, notify.Notification{EventID: "login-7", UserID: "ana", Content: &notify.Message{Body: "New login"}})

	nid, deliveries, err := c.StatusByEvent(ctx, "login-7")
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(nid == r.NotificationID, deliveries[0].Channel, deliveries[0].Status)
	_, _, err = c.StatusByEvent(ctx, "never-sent")
	fmt.Println(errors.Is(err, notify.ErrNotFound))
	// Output:
	// true sms queued
	// true
}

func ExampleClient_SetPreference() {
	c, stop := server()
	defer stop()
	ctx := context.Background()
	_ = c.SetPreference(ctx, "ana", "marketing", "sms", false)
	ok, _ := c.Preference(ctx, "ana", "marketing", "sms")
	fmt.Println("marketing by sms:", ok)
	// Output: marketing by sms: false
}
