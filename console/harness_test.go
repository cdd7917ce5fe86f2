package console_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/gonotify/notify"
	"github.com/gonotify/notify/console"
	dmem "github.com/gonotify/notify/dedup/memory"
	"github.com/gonotify/notify/notifytest"
	qmem "github.com/gonotify/notify/queue/memory"
	smem "github.com/gonotify/notify/store/memory"
)

var errDown = errors.New("connection refused (postgres://app:hunter2@db.internal/notify)")

// flakyQueue is the memory queue, which can be taken down.
type flakyQueue struct {
	*qmem.Queue
	down *atomic.Bool
}

func (q flakyQueue) Stats(ctx context.Context, queue string) (notify.QueueStats, error) {
	if q.down.Load() {
		return notify.QueueStats{}, errDown
	}
	return q.Queue.Stats(ctx, queue)
}

func (q flakyQueue) Dead(ctx context.Context, dq notify.DeadQuery) (notify.DeadPage, error) {
	if q.down.Load() {
		return notify.DeadPage{}, errDown
	}
	return q.Queue.Dead(ctx, dq)
}

// flakyStore is the memory store, which can be taken down.
type flakyStore struct {
	*smem.Store
	down *atomic.Bool
}

func (s flakyStore) Report(ctx context.Context, q notify.ReportQuery) ([]notify.ReportRow, error) {
	if s.down.Load() {
		return nil, errDown
	}
	return s.Store.Report(ctx, q)
}

func (s flakyStore) Deliveries(ctx context.Context, id string) ([]notify.DeliveryRecord, error) {
	if s.down.Load() {
		return nil, errDown
	}
	return s.Store.Deliveries(ctx, id)
}

func (s flakyStore) UserDeliveries(ctx context.Context, q notify.UserQuery) (notify.DeliveryPage, error) {
	if s.down.Load() {
		return notify.DeliveryPage{}, errDown
	}
	return s.Store.UserDeliveries(ctx, q)
}

// env is a console over a Dispatcher on the memory backends, with seeded
// deliveries: ana's sms are dead (the sms channel is broken until fixed),
// her email sent and opened.
type env struct {
	t      *testing.T
	d      *notify.Dispatcher
	srv    *httptest.Server
	client *http.Client
	down   *atomic.Bool
	fixed  *atomic.Bool
	sms    *notifytest.Channel
	email  *notifytest.Channel
	nids   []string
}

const prefix = "/console"

func newEnv(t *testing.T, cfg console.Config) *env {
	t.Helper()
	e := &env{t: t, down: &atomic.Bool{}, fixed: &atomic.Bool{}}
	q := qmem.New(qmem.Config{Visibility: time.Minute})
	t.Cleanup(func() { _ = q.Close() })
	e.sms = notifytest.NewChannel(notify.ChannelSMS)
	e.sms.OnSend(func(*notify.Delivery) (notify.Result, error) {
		if e.fixed.Load() {
			return notify.Result{ProviderID: "SM-ok"}, nil
		}
		return notify.Result{}, notify.Retryable(errors.New("twilio: 503 see https://api.example/x?token=abc123secret"), 0)
	})
	e.email = notifytest.NewChannel(notify.ChannelEmail)
	store := smem.New(smem.Config{})
	d, err := notify.New(notify.Config{
		Queue: flakyQueue{q, e.down}, Store: flakyStore{store, e.down}, Deduper: dmem.New(dmem.Config{}),
		Channels: []notify.Channel{e.sms, e.email},
		Retry:    notify.RetryPolicy{BaseDelay: time.Millisecond, MaxDelay: 2 * time.Millisecond, MaxAttempts: 2},
		Logger:   slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	require.NoError(t, err)
	e.d = d
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { _ = d.Run(ctx) })
	t.Cleanup(func() { cancel(); wg.Wait() })

	require.NoError(t, store.PutContact(t.Context(), notify.Contact{UserID: "ana", Phone: "+15005550006", Email: "ana@example.com"}))
	for i, ev := range []string{"ev-1", "ev-2", "ev-3"} {
		r, err := d.Send(t.Context(), notify.Notification{
			EventID: ev, UserID: "ana", Category: "news",
			Content:  &notify.Message{Title: "Hi", Body: "Reset: https://x.example/r?token=supersecret&u=1", Subject: "Hello <b>Ana</b>", Text: "t"},
			Metadata: map[string]string{"api_key": "k-secret", "order": "o-1"},
		})
		require.NoError(t, err, i)
		e.nids = append(e.nids, r.NotificationID)
	}
	for _, nid := range e.nids {
		e.settle(nid)
	}
	recs, err := d.Status(t.Context(), e.nids[0])
	require.NoError(t, err)
	for _, r := range recs {
		if r.Channel == notify.ChannelEmail {
			require.NoError(t, d.Track(t.Context(), r.DeliveryID, notify.StatusOpened))
		}
	}

	cfg.Dispatcher = d
	cfg.Prefix = prefix
	cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	h, err := console.New(cfg)
	require.NoError(t, err)
	mux := http.NewServeMux()
	mux.Handle(prefix+"/", h)
	e.srv = httptest.NewServer(mux)
	t.Cleanup(e.srv.Close)
	jar, _ := cookiejar.New(nil)
	e.client = &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	return e
}

// settle waits until every delivery of the notification is final.
func (e *env) settle(nid string) []notify.DeliveryRecord {
	return notifytest.Settled(e.t, e.d, nid, 10*time.Second)
}

// get fetches path and returns the status and body.
func (e *env) get(path string) (int, string) {
	e.t.Helper()
	resp, err := e.client.Get(e.srv.URL + path)
	require.NoError(e.t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(e.t, err)
	return resp.StatusCode, string(b)
}

// post submits a form and returns the response (not following redirects).
func (e *env) post(path string, form url.Values) (*http.Response, string) {
	e.t.Helper()
	resp, err := e.client.PostForm(e.srv.URL+path, form)
	require.NoError(e.t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(e.t, err)
	return resp, string(b)
}

var csrfInput = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// csrfFrom returns the CSRF token of a page's form.
func csrfFrom(t *testing.T, body string) string {
	t.Helper()
	m := csrfInput.FindStringSubmatch(body)
	require.NotNil(t, m, "no csrf field in the page")
	return m[1]
}

// deadIDs lists the dead sms deliveries.
func (e *env) deadIDs() []string {
	e.t.Helper()
	p, err := e.d.Dead(context.Background(), notify.ChannelSMS, notify.DeadQuery{})
	require.NoError(e.t, err)
	var ids []string
	for _, j := range p.Jobs {
		ids = append(ids, j.Job.ID)
	}
	return ids
}
