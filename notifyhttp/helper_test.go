package notifyhttp

import (
	"context"
	"io"
	"log/slog"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/gonotify/notify"
	dmem "github.com/gonotify/notify/dedup/memory"
	"github.com/gonotify/notify/notifytest"
	qmem "github.com/gonotify/notify/queue/memory"
	rmem "github.com/gonotify/notify/ratelimit/memory"
	smem "github.com/gonotify/notify/store/memory"
)

// env is the API on memory backends behind an httptest server, with an
// admin key and its signing Client.
type env struct {
	d      *notify.Dispatcher
	store  *smem.Store
	queue  *qmem.Queue
	keys   *MemoryKeys
	h      *handler
	srv    *httptest.Server
	admin  Key
	secret string
	c      *Client
}

func newEnv(t testing.TB, mods ...func(*Config)) *env {
	t.Helper()
	e := &env{store: smem.New(smem.Config{}), queue: qmem.New(qmem.Config{Visibility: time.Minute, MaxJobs: -1}), keys: NewMemoryKeys()}
	t.Cleanup(func() { _ = e.queue.Close() })
	d, err := notify.New(notify.Config{
		Queue: e.queue, Store: e.store, Deduper: dmem.New(dmem.Config{}),
		Channels: []notify.Channel{notifytest.NewChannel("sms"), notifytest.NewChannel("apns"), notifytest.NewChannel("email")},
		Logger:   slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	require.NoError(t, err)
	e.d = d
	cfg := Config{Dispatcher: d, Keys: e.keys, Limiter: rmem.New(rmem.Config{}), Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
	for _, m := range mods {
		m(&cfg)
	}
	e.h, err = newHandler(cfg)
	require.NoError(t, err)
	if tt, ok := t.(*testing.T); ok {
		e.srv = httptest.NewServer(specCheck(tt, e.h))
	} else { // benchmarks measure the handler alone
		e.srv = httptest.NewServer(e.h)
	}
	t.Cleanup(e.srv.Close)
	e.admin, e.secret = e.newKey(t, ScopeAdmin)
	e.c = e.client(t, e.admin.ID, e.secret)
	return e
}

func (e *env) newKey(t testing.TB, scopes ...Scope) (Key, string) {
	t.Helper()
	k, s, err := NewKey("test", scopes...)
	require.NoError(t, err)
	require.NoError(t, e.keys.PutKey(context.Background(), k))
	return k, s
}

func (e *env) client(t testing.TB, id, secret string) *Client {
	t.Helper()
	c, err := NewClient(ClientConfig{BaseURL: e.srv.URL, KeyID: id, Secret: secret, MaxRetries: -1})
	require.NoError(t, err)
	return c
}

// stored counts what the backends hold: queued jobs, logged deliveries.
func (e *env) stored(t testing.TB) int {
	t.Helper()
	n := 0
	for _, ch := range []string{"sms", "apns", "email"} {
		st, err := e.queue.Stats(context.Background(), e.d.QueueName(ch))
		require.NoError(t, err)
		n += st.Ready + st.Delayed + st.InFlight + st.Dead
	}
	return n
}
