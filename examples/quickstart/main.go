// Command quickstart runs the whole notify pipeline in memory, with a console
// channel per provider that prints what APNs, FCM, Twilio and SES would
// receive. It shows, in a few seconds: a multi-channel send, a duplicate
// event, an opted-out user, a burst cut by the rate limit, a transient
// failure retried then delivered, a permanent failure, a delivery that goes
// dead, a device registration that moves a token to its new owner, quiet
// hours that hold a push until morning, a scheduled reminder cancelled, and
// a table of every delivery's status.
//
//	go run ./examples/quickstart
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"log/slog"
	"os"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/gonotify/notify"
	dmem "github.com/gonotify/notify/dedup/memory"
	qmem "github.com/gonotify/notify/queue/memory"
	rmem "github.com/gonotify/notify/ratelimit/memory"
	smem "github.com/gonotify/notify/store/memory"
	"github.com/gonotify/notify/template"
)

func main() {
	if err := run(context.Background(), os.Stdout); err != nil {
		log.Fatal(err)
	}
}

func run(ctx context.Context, out io.Writer) error {
	queue := qmem.New(qmem.Config{Visibility: 30 * time.Second})
	defer queue.Close()
	store := smem.New(smem.Config{})

	tmpl := template.New(template.Config{})
	if err := tmpl.Add("order-shipped", "", template.Variants{
		Push:  &template.Push{Title: "Order {{.order}} shipped", Body: "Arriving {{.eta}}."},
		SMS:   &template.SMS{Body: "Your order {{.order}} shipped; arriving {{.eta}}."},
		Email: &template.Email{Subject: "Order {{.order}} shipped", Text: "Hi {{.name}},\nyour order is on its way.", HTML: "<p>Hi {{.name}}, your order is on its way.</p>"},
	}); err != nil {
		return err
	}
	if err := tmpl.Add("order-shipped", "pt", template.Variants{
		Push: &template.Push{Title: "Pedido {{.order}} enviado", Body: "Chega {{.eta}}."},
	}); err != nil {
		return err
	}

	// Console channels; the "flaky" ones fail on purpose for the demo.
	var mu sync.Mutex
	var flakyMu sync.Mutex
	flaky := map[string]int{} // address -> failures left
	fail := func(d *notify.Delivery) error {
		flakyMu.Lock()
		defer flakyMu.Unlock()
		switch {
		case d.Address == "+15550000000":
			return notify.Permanent(errors.New("twilio 21602: message body is required"))
		case d.Address == "down@example.com":
			return notify.Retryable(errors.New("ses: 503 service unavailable"), 0)
		case flaky[d.Address] > 0:
			flaky[d.Address]--
			return notify.Retryable(errors.New("apns: 503 ServiceUnavailable"), 0)
		}
		return nil
	}
	var channels []notify.Channel
	for _, name := range []string{notify.ChannelAPNs, notify.ChannelFCM, notify.ChannelSMS, notify.ChannelEmail} {
		channels = append(channels, &console{name: name, out: out, mu: &mu, fail: fail})
	}

	d, err := notify.New(notify.Config{
		Queue: queue, Store: store, Renderer: tmpl, Channels: channels,
		Deduper: dmem.New(dmem.Config{}), Limiter: rmem.New(rmem.Config{}),
		Categories: map[string]notify.CategoryPolicy{
			"chat": {Limit: notify.Limit{Rate: 3, Per: time.Hour}, OverLimit: notify.OverLimitDrop},
		},
		Retry:  notify.RetryPolicy{MaxAttempts: 3, BaseDelay: 100 * time.Millisecond, MaxDelay: 200 * time.Millisecond},
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		return err
	}
	for _, c := range []notify.Contact{
		{UserID: "ana", Locale: "pt-BR", Phone: "+15005550006", Email: "ana@example.com",
			Devices: []notify.Device{{Platform: "apns", Token: "a1b2c3d4e5f60718293a4b5c6d7e8f90"}, {Platform: "fcm", Token: "fcm:APA91bHun4MxP5egoKMwt2KZFBaFUH"}}},
		{UserID: "bob", Phone: "+15005550007", Email: "bob@example.com"},
		{UserID: "cho", Devices: []notify.Device{{Platform: "apns", Token: "f00dfeedf00dfeedf00dfeedf00dfeed"}}},
		{UserID: "dan", Phone: "+15550000000", Email: "down@example.com"},
		{UserID: "eve", Email: "eve@example.com"},
	} {
		if err := store.PutContact(ctx, c); err != nil {
			return err
		}
	}
	if err := store.SetPreference(ctx, "bob", "marketing", notify.ChannelSMS, false); err != nil {
		return err
	}
	flaky["f00dfeedf00dfeedf00dfeedf00dfeed"] = 2

	runCtx, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Go(func() { _ = d.Run(runCtx) })
	defer func() { stop(); wg.Wait() }()

	var ids []string
	step := func(title string, n notify.Notification) {
		// Hold the console while sending, so the receipt prints before
		// the workers' output.
		mu.Lock()
		defer mu.Unlock()
		fmt.Fprintf(out, "\n▶ %s\n", title)
		r, err := d.Send(ctx, n)
		if err != nil {
			fmt.Fprintf(out, "  Send: %v\n", err)
			return
		}
		if r.Duplicate {
			fmt.Fprintf(out, "  Send: duplicate of notification …%s: nothing new queued, its receipt returned\n", tail(r.NotificationID))
			return
		}
		fmt.Fprintf(out, "  Send: notification …%s, %d deliveries queued", tail(r.NotificationID), len(r.Deliveries))
		for _, s := range r.Skipped {
			fmt.Fprintf(out, ", %s skipped (%s)", s.Channel, s.Reason)
		}
		fmt.Fprintln(out)
		ids = append(ids, r.NotificationID)
	}
	settle := func() { waitSettled(ctx, d, ids) }

	shipped := func(event, user string) notify.Notification {
		return notify.Notification{EventID: event, UserID: user, Template: "order-shipped",
			Data: map[string]any{"order": "#1042", "eta": "Friday", "name": user}}
	}
	step("1. One event, every channel the user has (Ana, locale pt-BR)", shipped("order-1042-shipped", "ana"))
	settle()
	step("2. The same event again (a retried webhook): de-duplicated", shipped("order-1042-shipped", "ana"))
	settle()
	mk := shipped("promo-spring", "bob")
	mk.Category = "marketing"
	step("3. Bob opted out of marketing SMS: email only", mk)
	settle()
	fmt.Fprintln(out, "\n▶ 4. A burst of 5 chat pushes; the chat limit is 3 per hour (drop)")
	for i := range 5 {
		n := notify.Notification{EventID: fmt.Sprintf("chat-%d", i), UserID: "ana", Category: "chat",
			Channels: []string{notify.ChannelFCM}, Content: &notify.Message{Title: "Bob", Body: fmt.Sprintf("message %d", i+1)}}
		r, err := d.Send(ctx, n)
		if err != nil {
			return err
		}
		ids = append(ids, r.NotificationID)
	}
	settle()
	step("5. Cho's push fails twice with a 503, then goes through", shipped("order-1043-shipped", "cho"))
	settle()
	step("6. Dan: SMS fails permanently, email keeps failing until it goes dead", shipped("order-1044-shipped", "dan"))
	settle()

	// 7. A device registration: Ana's iPhone is signed in to Eve's account
	// now. One token has one owner, so registering it for Eve takes it from
	// Ana, and a push for Ana no longer reaches Eve's phone.
	fmt.Fprintln(out, "\n▶ 7. Eve signs in on Ana's old iPhone: the device registry moves the token")
	reg, err := d.RegisterDevice(ctx, "eve", notify.Device{Platform: notify.ChannelAPNs, Token: "a1b2c3d4e5f60718293a4b5c6d7e8f90", App: "com.example.shop"})
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "  RegisterDevice: token …%s now Eve's (new to her: %t), moved from %q\n", tail(reg.Device.Token), reg.Created, reg.MovedFrom)
	step("   A push for Eve reaches the iPhone", notify.Notification{EventID: "welcome-eve", UserID: "eve",
		Channels: []string{notify.ChannelAPNs}, Content: &notify.Message{Title: "Welcome", Body: "Hi Eve"}})
	settle()

	// 8. Quiet hours: Fay's window, by her own clock, covers the present
	// hour (a real host stores something like "22:00-07:00"). A promotion
	// waits for the window's end instead of waking her; a Critical
	// notification goes at once.
	fay, err := quietNow("Asia/Tokyo")
	if err != nil {
		return err
	}
	if err := d.PutContact(ctx, fay); err != nil {
		return err
	}
	fmt.Fprintf(out, "\n▶ 8. Fay's quiet hours (%s in Asia/Tokyo) cover now: a promotion waits, a security alert does not\n", fay.QuietHours)
	promo, err := d.Send(ctx, notify.Notification{EventID: "promo-fay", UserID: "fay", Category: "marketing",
		Content: &notify.Message{Title: "Spring sale", Body: "20% off today"}})
	if err != nil {
		return err
	}
	step("   A sign-in alert (Critical) for Fay", notify.Notification{EventID: "signin-fay", UserID: "fay", Category: "security",
		Critical: true, Content: &notify.Message{Title: "New sign-in", Body: "Was it you?"}})
	settle()
	waitStatus(ctx, d, promo.NotificationID, notify.StatusDeferred)
	fmt.Fprintf(out, "  the promotion …%s: deferred (quiet_hours) until %s, Fay's time\n", tail(promo.NotificationID), fay.QuietHours.End)

	// 9. A reminder scheduled for tomorrow, then the appointment is
	// cancelled: Cancel takes the unsent deliveries off the queue.
	fmt.Fprintln(out, "\n▶ 9. A reminder scheduled for tomorrow; the appointment is cancelled")
	remind, err := d.Send(ctx, notify.Notification{EventID: "appt-77-reminder", UserID: "bob",
		SendAt: time.Now().Add(24 * time.Hour), Content: &notify.Message{Subject: "Reminder", Body: "Dentist tomorrow at 9:00", Text: "Dentist tomorrow at 9:00"}})
	if err != nil {
		return err
	}
	cr, err := d.Cancel(ctx, "appt-77-reminder")
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "  Cancel: %d deliveries canceled, %d too late\n", len(cr.Canceled), len(cr.TooLate))

	// The table.
	ids = append(ids, promo.NotificationID, remind.NotificationID)
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	fmt.Fprintln(out, "\nEvery delivery's status:")
	fmt.Fprintln(tw, "notification\tchannel\taddress\tstatus\tattempts\treason")
	for _, id := range ids {
		statuses, err := d.Status(ctx, id)
		if err != nil {
			return err
		}
		for _, s := range statuses {
			fmt.Fprintf(tw, "…%s\t%s\t%s\t%s\t%d\t%s\n", tail(id), s.Channel, short(s.Address), s.Status, s.Attempts, trim(s.Reason))
		}
	}
	return tw.Flush()
}

// quietNow returns Fay's contact: a push device, in zone, with quiet hours
// that cover the present moment there (from the last full hour to two
// hours later).
func quietNow(zone string) (notify.Contact, error) {
	loc, err := time.LoadLocation(zone)
	if err != nil {
		return notify.Contact{}, err
	}
	h := time.Now().In(loc).Hour()
	qh := notify.QuietHours{Start: notify.ClockAt(h, 0), End: notify.ClockAt((h+2)%24, 0)}
	return notify.Contact{UserID: "fay", TimeZone: zone, QuietHours: &qh,
		Devices: []notify.Device{{Platform: notify.ChannelFCM, Token: "fcm:APA91bFayFayFayFayFayFayFayFay"}}}, nil
}

// waitStatus polls until every delivery of the notification has status st.
func waitStatus(ctx context.Context, d *notify.Dispatcher, id string, st notify.Status) {
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		recs, _ := d.Status(ctx, id)
		done := len(recs) > 0
		for _, r := range recs {
			done = done && r.Status == st
		}
		if done {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// waitSettled polls until every delivery of the notifications is final.
func waitSettled(ctx context.Context, d *notify.Dispatcher, ids []string) {
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		done := true
		for _, id := range ids {
			statuses, _ := d.Status(ctx, id)
			for _, s := range statuses {
				if !s.Status.Final() {
					done = false
				}
			}
		}
		if done {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func tail(id string) string { return id[len(id)-8:] }

func trim(s string) string {
	if i := strings.Index(s, "; retry in"); i >= 0 {
		s = s[:i]
	}
	if len(s) > 60 {
		return s[:57] + "..."
	}
	return s
}
