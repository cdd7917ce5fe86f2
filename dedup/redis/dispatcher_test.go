package redis_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/gonotify/notify"
	dedup "github.com/gonotify/notify/dedup/redis"
	"github.com/gonotify/notify/internal/redistest"
	"github.com/gonotify/notify/notifytest"
	memqueue "github.com/gonotify/notify/queue/memory"
	memstore "github.com/gonotify/notify/store/memory"
	goredis "github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// instance is one Dispatcher with its own queue, store and channel, as one
// process of a deployment would have; only the deduper's Redis is shared.
type instance struct {
	d  *notify.Dispatcher
	q  *memqueue.Queue
	ch *notifytest.Channel
}

func startInstance(t *testing.T, dd notify.Deduper) *instance {
	t.Helper()
	ch := notifytest.NewChannel(notify.ChannelSMS)
	q := memqueue.New(memqueue.Config{})
	d, err := notify.New(notify.Config{
		Queue:    q,
		Store:    memstore.New(memstore.Config{}),
		Deduper:  dd,
		Channels: []notify.Channel{ch},
		Logger:   slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		assert.NoError(t, <-done)
		_ = q.Close()
	})
	return &instance{d: d, q: q, ch: ch}
}

func (in *instance) send(eventID string) (notify.Receipt, error) {
	return in.d.Send(context.Background(), notify.Notification{
		EventID: eventID,
		To:      []notify.Address{{Channel: notify.ChannelSMS, Value: "+15550100"}},
		Content: &notify.Message{Text: "your order " + eventID + " shipped"},
	})
}

// sentEvents waits until the channel has sent n deliveries, then returns how
// often each event ID was sent.
func (in *instance) sentEvents(t *testing.T, n int) map[string]int {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	require.NoError(t, in.ch.WaitSent(ctx, n))
	m := map[string]int{}
	for _, d := range in.ch.Sent() {
		m[d.EventID]++
	}
	return m
}

// TestTwoDispatchersClaimOnce sends every event ID through two Dispatchers
// at once, each with its own queue and store, their dedupers sharing one
// Redis: each event is queued, and sent, once in all.
func TestTwoDispatchersClaimOnce(t *testing.T) {
	prefix := redistest.Prefix(t)
	var ins [2]*instance
	for i := range ins {
		dd, err := dedup.New(redistest.Client(t), dedup.Config{Prefix: prefix})
		require.NoError(t, err)
		ins[i] = startInstance(t, dd)
	}
	const events = 20
	receipts := make([][2]notify.Receipt, events)
	inProgress := make([][2]bool, events)
	var wg sync.WaitGroup
	for e := range events {
		for i, in := range ins {
			wg.Go(func() {
				r, err := in.send(fmt.Sprint("order-", e))
				if errors.Is(err, notify.ErrInProgress) {
					// The other instance holds the claim, and this one's
					// log cannot see its notification: no receipt, and the
					// caller knows not to count it as sent.
					inProgress[e][i] = true
					return
				}
				assert.NoError(t, err)
				receipts[e][i] = r
			})
		}
	}
	wg.Wait()
	perInstance := make([]int, len(ins))
	for e, rs := range receipts {
		originals := 0
		for i, r := range rs {
			if !inProgress[e][i] && !r.Duplicate {
				originals++
				perInstance[i]++
				assert.Len(t, r.Deliveries, 1)
			}
		}
		require.Equal(t, 1, originals, "event %d: exactly one of two Sends is the original", e)
	}
	for i, in := range ins { // wait for each instance's originals
		in.sentEvents(t, perInstance[i])
	}
	time.Sleep(100 * time.Millisecond) // let a wrongly queued duplicate show
	total := map[string]int{}
	for _, in := range ins {
		for e, n := range in.sentEvents(t, 0) {
			total[e] += n
		}
	}
	assert.Len(t, total, events)
	for e, n := range total {
		assert.Equal(t, 1, n, "event %s sent %d times across two Dispatchers", e, n)
	}
}

// TestRedisOutageDuringSend kills the deduper's Redis while a Dispatcher
// runs and starts it again: Sends with an event ID fail with an error (and
// queue nothing) while it is down, Sends without one go on, and the failed
// Sends succeed when retried after the restart. Nothing is lost, nothing is
// sent twice.
func TestRedisOutageDuringSend(t *testing.T) {
	srv := redistest.StartServer(t)
	rdb := goredis.NewClient(&goredis.Options{Addr: srv.Addr, MaxRetries: -1})
	t.Cleanup(func() { _ = rdb.Close() })
	dd, err := dedup.New(rdb, dedup.Config{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	require.NoError(t, err)
	in := startInstance(t, dd)
	ctx := context.Background()

	for e := range 5 {
		_, err := in.send(fmt.Sprint("before-", e))
		require.NoError(t, err)
	}
	r, err := in.send("before-0")
	require.NoError(t, err)
	assert.True(t, r.Duplicate)

	srv.Stop(t)
	var failed []string
	for e := range 5 {
		id := fmt.Sprint("during-", e)
		_, err := in.send(id)
		assert.Error(t, err, "fail closed: a Send whose event ID cannot be claimed is an error")
		failed = append(failed, id)
	}
	_, err = in.send("") // no event ID: no claim needed
	require.NoError(t, err, "Sends without an event ID go on while Redis is down")
	for id := range in.sentEvents(t, 6) {
		assert.NotContains(t, id, "during-", "a failed Send queued nothing")
	}
	// The sixth send is acked just after the channel saw it.
	require.Eventually(t, func() bool {
		st, err := in.q.Stats(ctx, in.d.QueueName(notify.ChannelSMS))
		return err == nil && st == (notify.QueueStats{})
	}, 5*time.Second, 10*time.Millisecond, "nothing left on the queue: a failed Send queued nothing")

	srv.Start(t)
	for _, id := range failed {
		require.Eventually(t, func() bool {
			r, err := in.send(id)
			return err == nil && !r.Duplicate
		}, 5*time.Second, 20*time.Millisecond, "retrying %s after Redis is back", id)
	}
	r, err = in.send("during-0")
	require.NoError(t, err)
	assert.True(t, r.Duplicate, "claims hold again after the restart")

	in.sentEvents(t, 11)
	time.Sleep(100 * time.Millisecond) // let a wrongly queued duplicate show
	sent := in.sentEvents(t, 11)
	assert.Len(t, in.ch.Sent(), 11, "5 before, 1 without an event ID, 5 retried")
	for e := range 5 {
		assert.Equal(t, 1, sent[fmt.Sprint("before-", e)])
		assert.Equal(t, 1, sent[fmt.Sprint("during-", e)])
	}
	assert.Empty(t, in.ch.Duplicates())
}
