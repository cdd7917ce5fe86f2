package notify_test

import (
	"context"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/gonotify/notify"
	dmem "github.com/gonotify/notify/dedup/memory"
	"github.com/gonotify/notify/notifytest"
	qmem "github.com/gonotify/notify/queue/memory"
	rmem "github.com/gonotify/notify/ratelimit/memory"
	smem "github.com/gonotify/notify/store/memory"
	"github.com/gonotify/notify/template"
)

// harness is a Dispatcher on the memory backends with a fake channel per
// built-in channel name.
type harness struct {
	d     *notify.Dispatcher
	cfg   notify.Config
	queue *qmem.Queue
	store *smem.Store
	ch    map[string]*notifytest.Channel
}

func newHarness(t testing.TB, mods ...func(*notify.Config)) *harness {
	t.Helper()
	h := &harness{
		queue: qmem.New(qmem.Config{Visibility: time.Minute}),
		store: smem.New(smem.Config{}),
		ch:    map[string]*notifytest.Channel{},
	}
	t.Cleanup(func() { _ = h.queue.Close() })
	tmpl := template.New(template.Config{})
	require.NoError(t, tmpl.Add("welcome", "", template.Variants{
		Push:  &template.Push{Title: "Welcome, {{.name}}", Body: "Glad you're here."},
		SMS:   &template.SMS{Body: "Welcome, {{.name}}!"},
		Email: &template.Email{Subject: "Welcome, {{.name}}", Text: "Hi {{.name}}.", HTML: "<p>Hi {{.name}}.</p>"},
	}))
	require.NoError(t, tmpl.Add("welcome", "pt", template.Variants{
		Push: &template.Push{Title: "Bem-vindo, {{.name}}", Body: "Que bom."},
	}))
	var chans []notify.Channel
	for _, name := range []string{notify.ChannelAPNs, notify.ChannelFCM, notify.ChannelSMS, notify.ChannelEmail} {
		c := notifytest.NewChannel(name)
		h.ch[name] = c
		chans = append(chans, c)
	}
	h.cfg = notify.Config{
		Queue: h.queue, Store: h.store, Renderer: tmpl,
		Deduper: dmem.New(dmem.Config{}), Limiter: rmem.New(rmem.Config{}),
		Channels: chans,
		Retry:    notify.RetryPolicy{BaseDelay: time.Millisecond, MaxDelay: 5 * time.Millisecond, MaxAttempts: 5},
		Logger:   slog.New(slog.NewTextHandler(io.Discard, nil)),
	}
	for _, m := range mods {
		m(&h.cfg)
	}
	d, err := notify.New(h.cfg)
	require.NoError(t, err)
	h.d = d
	return h
}

// run starts Run and returns a function that stops it and waits for it.
func (h *harness) run(t testing.TB) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() {
		if err := h.d.Run(ctx); err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	var once sync.Once
	stop = func() { once.Do(func() { cancel(); wg.Wait() }) }
	t.Cleanup(stop)
	return stop
}

func (h *harness) contact(t testing.TB, c notify.Contact) {
	t.Helper()
	require.NoError(t, h.store.PutContact(context.Background(), c))
}

// settle waits until every delivery of the notification is in a final
// state, and returns them.
func (h *harness) settle(t testing.TB, notificationID string) []notify.DeliveryRecord {
	t.Helper()
	deadline := time.Now().Add(48 * time.Hour) // fake time: tests run in synctest bubbles
	step := time.Millisecond
	for {
		ds, err := h.d.Status(context.Background(), notificationID)
		require.NoError(t, err)
		done := len(ds) > 0
		for _, s := range ds {
			if !s.Status.Final() {
				done = false
			}
		}
		if done {
			return ds
		}
		if time.Now().After(deadline) {
			t.Fatalf("notification %s did not settle: %+v", notificationID, ds)
		}
		// In a bubble, timers due before the wake-up still fire in order:
		// a longer step skips no event, it only checks less often.
		time.Sleep(step)
		step = min(2*step, time.Hour)
	}
}

var ana = notify.Contact{
	UserID: "ana", Phone: "+15005550006", Email: "ana@example.com", Locale: "pt-BR",
	Devices: []notify.Device{{Platform: notify.ChannelAPNs, Token: "apns-token-1"}, {Platform: notify.ChannelFCM, Token: "fcm-token-1"}},
}

func welcome(eventID string) notify.Notification {
	return notify.Notification{EventID: eventID, UserID: "ana", Template: "welcome", Data: map[string]any{"name": "Ana"}}
}
