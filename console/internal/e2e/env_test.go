package e2e

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/gonotify/notify"
	"github.com/gonotify/notify/console"
	"github.com/gonotify/notify/internal/testenv"
	"github.com/gonotify/notify/notifytest"
	"github.com/gonotify/notify/postgres"
)

// pgEnv is a Dispatcher on PostgreSQL (queue, store, dedup in a schema of
// its own) with an sms channel that fails until fixed and an email channel
// that sends, and the console in front of it.
type pgEnv struct {
	t      testing.TB
	pool   *pgxpool.Pool
	schema string
	pg     *postgres.Backend
	d      *notify.Dispatcher
	fixed  atomic.Bool
	sms    *notifytest.Channel
	email  *notifytest.Channel
	srv    *httptest.Server
}

const prefix = "/console"

func newPGEnv(t testing.TB, ccfg console.Config) *pgEnv {
	t.Helper()
	url := testenv.Need(t, "NOTIFY_TEST_POSTGRES_URL", "PostgreSQL")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	pcfg, err := pgxpool.ParseConfig(url)
	require.NoError(t, err)
	pcfg.MaxConns = 16
	pool, err := pgxpool.NewWithConfig(ctx, pcfg)
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	var b [6]byte
	_, _ = rand.Read(b[:])
	e := &pgEnv{t: t, pool: pool, schema: "nc_" + hex.EncodeToString(b[:])}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if _, err := pool.Exec(ctx, "DROP SCHEMA "+pgx.Identifier{e.schema}.Sanitize()+" CASCADE"); err != nil {
			t.Logf("drop schema %s: %v", e.schema, err)
		}
	})
	e.pg, err = postgres.New(pool, postgres.Config{Schema: e.schema})
	require.NoError(t, err)
	require.NoError(t, e.pg.Migrate(ctx))
	t.Cleanup(func() { _ = e.pg.Close() })

	e.sms = notifytest.NewChannel(notify.ChannelSMS)
	e.sms.OnSend(func(*notify.Delivery) (notify.Result, error) {
		if e.fixed.Load() {
			return notify.Result{ProviderID: "SM-ok"}, nil
		}
		return notify.Result{}, notify.Retryable(errors.New("twilio: 503 Service Unavailable"), 0)
	})
	e.email = notifytest.NewChannel(notify.ChannelEmail)
	e.d, err = notify.New(notify.Config{
		Queue: e.pg.Queue(), Store: e.pg.Store(), Deduper: e.pg.Deduper(),
		Channels: []notify.Channel{e.sms, e.email},
		Retry:    notify.RetryPolicy{BaseDelay: time.Millisecond, MaxDelay: 2 * time.Millisecond, MaxAttempts: 2},
		Logger:   slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	require.NoError(t, err)

	ccfg.Dispatcher = e.d
	ccfg.Prefix = prefix
	if ccfg.Logger == nil {
		ccfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	h, err := console.New(ccfg)
	require.NoError(t, err)
	mux := http.NewServeMux()
	mux.Handle(prefix+"/", h)
	e.srv = httptest.NewServer(mux)
	t.Cleanup(e.srv.Close)
	return e
}

// run starts the Dispatcher's Run until the test ends.
func (e *pgEnv) run() {
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { _ = e.d.Run(ctx) })
	e.t.Cleanup(func() { cancel(); wg.Wait() })
}

// seed sends n notifications to users u0..u(users-1), each to sms and email,
// waits until all are final, and marks every third email opened and every
// sixth clicked. It returns the notification IDs.
func (e *pgEnv) seed(n, users int) []string {
	e.t.Helper()
	ctx := context.Background()
	for u := range users {
		require.NoError(e.t, e.pg.Store().PutContact(ctx, notify.Contact{
			UserID: fmt.Sprintf("u%d", u), Phone: fmt.Sprintf("+1500555%04d", u), Email: fmt.Sprintf("user%d@example.com", u),
		}))
	}
	var nids []string
	for i := range n {
		r, err := e.d.Send(ctx, notify.Notification{
			EventID: fmt.Sprintf("ev-%d", i), UserID: fmt.Sprintf("u%d", i%users), Category: []string{"news", "security"}[i%2],
			Content: &notify.Message{Title: "Hello", Body: fmt.Sprintf("Message %d", i), Subject: "Hello", Text: "Hi"},
		})
		require.NoError(e.t, err)
		nids = append(nids, r.NotificationID)
	}
	for i, nid := range nids {
		for _, r := range e.settle(nid) {
			if r.Channel != notify.ChannelEmail {
				continue
			}
			if i%3 == 0 {
				require.NoError(e.t, e.d.Track(ctx, r.DeliveryID, notify.StatusOpened))
			}
			if i%6 == 0 {
				require.NoError(e.t, e.d.Track(ctx, r.DeliveryID, notify.StatusClicked))
			}
		}
	}
	return nids
}

// settle waits until every delivery of the notification is final.
func (e *pgEnv) settle(nid string) []notify.DeliveryRecord {
	return notifytest.Settled(e.t, e.d, nid, 30*time.Second)
}
