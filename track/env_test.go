package track_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/gonotify/notify"
	"github.com/gonotify/notify/notifytest"
	qmem "github.com/gonotify/notify/queue/memory"
	smem "github.com/gonotify/notify/store/memory"
	"github.com/gonotify/notify/template"
	"github.com/gonotify/notify/track"
)

const base = "https://t.example.com"

var (
	keyA = []byte("key-a-0123456789abcdef0123456789")
	keyB = []byte("key-b-0123456789abcdef0123456789")
)

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func newSigner(t testing.TB, keys ...[]byte) *track.Signer {
	t.Helper()
	s, err := track.New(track.Config{BaseURL: base, Keys: keys})
	require.NoError(t, err)
	return s
}

// store is a memory Store that can be taken down or slowed: Delivery (the
// first thing Feedback reads) fails or waits.
type store struct {
	*smem.Store
	down  atomic.Bool
	delay atomic.Int64 // nanoseconds Delivery waits
	calls atomic.Int64
}

var errDown = errors.New("store down (test)")

func (s *store) Delivery(ctx context.Context, id string) (notify.DeliveryRecord, error) {
	s.calls.Add(1)
	if d := time.Duration(s.delay.Load()); d > 0 {
		select {
		case <-time.After(d):
		case <-ctx.Done():
			return notify.DeliveryRecord{}, ctx.Err()
		}
	}
	if s.down.Load() {
		return notify.DeliveryRecord{}, errDown
	}
	return s.Store.Delivery(ctx, id)
}

// smsChannel is a fake SMS channel that validates like a real one: it
// counts 160-character messages, 153 per segment past that.
type smsChannel struct {
	*notifytest.Channel
	mu        sync.Mutex
	validated []string
}

func (c *smsChannel) Validate(d *notify.Delivery) error {
	c.mu.Lock()
	c.validated = append(c.validated, d.Message.Body)
	c.mu.Unlock()
	if segs := segments(d.Message.Body); segs > 1 {
		d.Units = segs
	}
	return nil
}

func segments(s string) int {
	if n := len(s); n > 160 {
		return (n + 152) / 153
	}
	return 1
}

// env is a Dispatcher on the memory backends whose email and SMS channels
// are wrapped by a Signer, with templates that use the track functions,
// and a Handler recording to it.
type env struct {
	s     *track.Signer
	d     *notify.Dispatcher
	store *store
	email *notifytest.Channel
	sms   *smsChannel
	h     *track.Handler
}

func newEnv(t testing.TB, hcfg track.HandlerConfig) *env {
	t.Helper()
	e := &env{s: newSigner(t, keyA), store: &store{Store: smem.New(smem.Config{})}}
	q := qmem.New(qmem.Config{Visibility: time.Minute})
	t.Cleanup(func() { _ = q.Close() })
	tmpl := template.New(template.Config{Funcs: e.s.Funcs()})
	require.NoError(t, tmpl.Add("order", "", template.Variants{
		SMS: &template.SMS{Body: "Order {{.id}} shipped. Track it: {{trackClick .url}}"},
		Email: &template.Email{
			Subject: "Order {{.id}} shipped",
			Text:    "Track it: {{trackClick .url}}",
			HTML:    `<p><a href="{{trackClick .url}}">Track it</a> or <a href="{{trackClick "https://shop.example.com/help"}}">get help</a></p>{{trackPixel}}`,
		},
	}))
	require.NoError(t, tmpl.Add("note", "", template.Variants{
		SMS:   &template.SMS{Body: "Note: {{.note}}"},
		Email: &template.Email{Subject: "Note", Text: "Note: {{.note}}", HTML: "<p>Note: {{.note}}</p>"},
	}))
	e.email = notifytest.NewChannel(notify.ChannelEmail)
	e.sms = &smsChannel{Channel: notifytest.NewChannel(notify.ChannelSMS)}
	d, err := notify.New(notify.Config{
		Queue: q, Store: e.store, Renderer: tmpl,
		Channels: []notify.Channel{e.s.Wrap(e.email.WithMaxBytes(1 << 20)), e.s.Wrap(e.sms)},
		Retry:    notify.RetryPolicy{BaseDelay: time.Millisecond, MaxDelay: 5 * time.Millisecond, MaxAttempts: 5},
		Logger:   quiet(),
	})
	require.NoError(t, err)
	e.d = d
	hcfg.Signer, hcfg.Recorder = e.s, d
	if hcfg.Logger == nil {
		hcfg.Logger = quiet()
	}
	e.h, err = track.NewHandler(hcfg)
	require.NoError(t, err)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = e.h.Close(ctx)
	})
	return e
}

// send sends an order notification to the given addresses and delivers
// it; it returns the receipt and the deliveries as the channels got them.
func (e *env) send(t testing.TB, url string, to ...notify.Address) (notify.Receipt, []notify.Delivery) {
	t.Helper()
	return e.sendN(t, notify.Notification{To: to, Template: "order", Data: map[string]any{"id": "A-1017", "url": url}})
}

// sendN sends n and delivers it; it returns the receipt and every
// delivery the channels have got.
func (e *env) sendN(t testing.TB, n notify.Notification) (notify.Receipt, []notify.Delivery) {
	t.Helper()
	ctx := context.Background()
	to := n.To
	nEmail, nSMS := len(e.email.Sent()), len(e.sms.Sent())
	r, err := e.d.Send(ctx, n)
	require.NoError(t, err)
	runCtx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Go(func() { _ = e.d.Run(runCtx) })
	defer func() { cancel(); wg.Wait() }()
	for _, a := range to {
		if a.Channel == notify.ChannelEmail {
			nEmail++
		} else {
			nSMS++
		}
	}
	wctx, wcancel := context.WithTimeout(ctx, 10*time.Second)
	defer wcancel()
	require.NoError(t, e.email.WaitSent(wctx, nEmail))
	require.NoError(t, e.sms.WaitSent(wctx, nSMS))
	return r, append(e.email.Sent(), e.sms.Sent()...)
}

var linkRE = regexp.MustCompile(regexp.QuoteMeta(base) + `/t/[co]/[A-Za-z0-9_-]+`)

// links lists the tracking links (and markers) in s, in order.
func links(s string) []string { return linkRE.FindAllString(s, -1) }

// get requests link (a full URL) from h with method and user agent, and
// returns the response.
func get(h http.Handler, method, link, ua string) *http.Response {
	req := httptest.NewRequest(method, link, nil)
	if ua != "" {
		req.Header.Set("User-Agent", ua)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec.Result()
}

const browser = "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_0) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.0 Safari/605.1.15"

// tracked returns the delivery's tracking events of status, after Close
// has written them.
func (e *env) tracked(t testing.TB, deliveryID string, status notify.Status) []notify.Event {
	t.Helper()
	rec, err := e.store.Store.Delivery(context.Background(), deliveryID)
	require.NoError(t, err)
	var out []notify.Event
	for _, ev := range rec.Events {
		if ev.Status == status {
			out = append(out, ev)
		}
	}
	return out
}

// hits sums the Hits of events, checking each detail parses.
func hits(t testing.TB, events []notify.Event) (total int, unmarked int) {
	t.Helper()
	for _, ev := range events {
		d, err := track.ParseDetail(ev.Reason)
		require.NoError(t, err, "reason %q", ev.Reason)
		total += d.Hits
		if !d.Repeat && !d.Prefetch {
			unmarked++
		}
	}
	return total, unmarked
}

func closeHandler(t testing.TB, h *track.Handler) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	require.NoError(t, h.Close(ctx))
}

func mustContain(t testing.TB, s, sub string) {
	t.Helper()
	if !strings.Contains(s, sub) {
		t.Fatalf("%q does not contain %q", s, sub)
	}
}
