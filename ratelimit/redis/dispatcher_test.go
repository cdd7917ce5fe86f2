package redis_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gonotify/notify"
	"github.com/gonotify/notify/internal/redistest"
	"github.com/gonotify/notify/notifytest"
	memqueue "github.com/gonotify/notify/queue/memory"
	ratelimit "github.com/gonotify/notify/ratelimit/redis"
	memstore "github.com/gonotify/notify/store/memory"
	goredis "github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The category every notification of these tests is sent in, with its limit.
const promo = "promo"

// instance is one Dispatcher with its own queue, store and channel, as one
// process of a deployment would have; only the limiter's Redis is shared.
type instance struct {
	d  *notify.Dispatcher
	ch *notifytest.Channel
}

// startInstance builds a Dispatcher on lim and runs it until the test ends.
// A backendTimeout of 0 keeps Config's default.
func startInstance(t *testing.T, lim notify.Limiter, policy notify.CategoryPolicy, backendTimeout time.Duration) *instance {
	t.Helper()
	ch := notifytest.NewChannel(notify.ChannelSMS)
	q := memqueue.New(memqueue.Config{})
	d, err := notify.New(notify.Config{
		Queue:          q,
		Store:          memstore.New(memstore.Config{}),
		Limiter:        lim,
		Channels:       []notify.Channel{ch},
		Categories:     map[string]notify.CategoryPolicy{promo: policy},
		BackendTimeout: backendTimeout,
		Logger:         slog.New(slog.NewTextHandler(io.Discard, nil)),
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
	return &instance{d: d, ch: ch}
}

// send sends n notifications to user in the promo category and returns
// their notification IDs.
func (in *instance) send(t *testing.T, user string, n int) []string {
	t.Helper()
	ids := make([]string, n)
	for i := range ids {
		r, err := in.d.Send(context.Background(), notify.Notification{
			UserID:   user,
			Category: promo,
			To:       []notify.Address{{Channel: notify.ChannelSMS, Value: "+15550100"}},
			Content:  &notify.Message{Text: fmt.Sprintf("offer %d", i)},
		})
		require.NoError(t, err)
		require.Len(t, r.Deliveries, 1)
		ids[i] = r.NotificationID
	}
	return ids
}

// settle waits until every notification's delivery is final and counts them
// by status.
func (in *instance) settle(t *testing.T, ids []string) map[notify.Status]int {
	t.Helper()
	var counts map[notify.Status]int
	require.Eventually(t, func() bool {
		counts = map[notify.Status]int{}
		for _, id := range ids {
			ds, err := in.d.Status(context.Background(), id)
			require.NoError(t, err)
			require.Len(t, ds, 1)
			if !ds[0].Status.Final() {
				return false
			}
			counts[ds[0].Status]++
		}
		return true
	}, 20*time.Second, 20*time.Millisecond, "deliveries did not settle: %v", counts)
	return counts
}

// TestTwoDispatchersShareOneLimit runs two Dispatchers, each with its own
// queue and store, whose limiters share one Redis. A user limited to 5 per
// minute (Drop) is sent 10 notifications through each: 5 are sent in all,
// not 5 by each.
func TestTwoDispatchersShareOneLimit(t *testing.T) {
	prefix := redistest.Prefix(t)
	policy := notify.CategoryPolicy{Limit: notify.Limit{Rate: 5, Per: time.Minute}, OverLimit: notify.OverLimitDrop}
	var ins [2]*instance
	for i := range ins {
		lim := newLimiter(t, redistest.Client(t), ratelimit.Config{Prefix: prefix, FailurePolicy: ratelimit.FailClosed})
		ins[i] = startInstance(t, lim, policy, 0)
	}
	var ids [2][]string
	for range 10 { // interleaved, as a load balancer would
		for j, in := range ins {
			ids[j] = append(ids[j], in.send(t, "user-1", 1)...)
		}
	}
	var sent, dropped int
	for j, in := range ins {
		counts := in.settle(t, ids[j])
		sent += counts[notify.StatusSent]
		dropped += counts[notify.StatusSkipped]
		assert.Equal(t, counts[notify.StatusSent], len(in.ch.Sent()), "the log and the channel agree")
		assert.Empty(t, in.ch.Duplicates())
	}
	assert.Equal(t, 5, sent, "sends to a user limited to 5 per minute, across two Dispatchers")
	assert.Equal(t, 15, dropped, "dropped as rate limited")

	// Another user has a limit of their own.
	more := ins[1].send(t, "user-2", 6)
	counts := ins[1].settle(t, more)
	assert.Equal(t, 5, counts[notify.StatusSent])
	assert.Equal(t, 1, counts[notify.StatusSkipped])
}

// countingLimiter counts the errors its Limiter returns.
type countingLimiter struct {
	notify.Limiter
	errs atomic.Int64
}

func (c *countingLimiter) Allow(ctx context.Context, req notify.LimitRequest) (notify.Decision, error) {
	d, err := c.Limiter.Allow(ctx, req)
	if err != nil {
		c.errs.Add(1)
	}
	return d, err
}

// TestRedisOutageDuringRun kills the limiter's Redis while a Dispatcher
// runs and starts it again. Fail-open: deliveries go on, unlimited, while
// it is down. Fail-closed: they wait (deferred) and go out once it is back.
// Either way nothing is lost or sent twice, and limits hold again after the
// restart.
func TestRedisOutageDuringRun(t *testing.T) {
	for _, policy := range []ratelimit.FailurePolicy{ratelimit.FailOpen, ratelimit.FailClosed} {
		t.Run(policy.String(), func(t *testing.T) {
			srv := redistest.StartServer(t)
			rdb := goredis.NewClient(&goredis.Options{Addr: srv.Addr, MaxRetries: -1})
			t.Cleanup(func() { _ = rdb.Close() })
			lim := newLimiter(t, rdb, ratelimit.Config{FailurePolicy: policy, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
			counted := &countingLimiter{Limiter: lim}
			in := startInstance(t, counted, notify.CategoryPolicy{Limit: notify.Limit{Rate: 2, Per: time.Minute}, OverLimit: notify.OverLimitDrop}, 0)

			before := in.send(t, "user-before", 4)
			counts := in.settle(t, before)
			require.Equal(t, 2, counts[notify.StatusSent], "the limit holds before the outage")

			srv.Stop(t)
			during := in.send(t, "user-during", 4)
			switch policy {
			case ratelimit.FailOpen:
				counts = in.settle(t, during)
				assert.Equal(t, 4, counts[notify.StatusSent], "fail-open: all sent while Redis is down, none dropped")
				assert.GreaterOrEqual(t, lim.FailOpens(), int64(4))
				srv.Start(t)
			case ratelimit.FailClosed:
				// The Dispatcher defers each delivery and asks again later;
				// wait until it has been refused more often than there are
				// deliveries, so at least one was asked about twice.
				require.Eventually(t, func() bool { return counted.errs.Load() > int64(len(during)) },
					10*time.Second, 20*time.Millisecond)
				assert.Len(t, in.ch.Sent(), 2, "fail-closed: nothing sent while Redis is down")
				srv.Start(t)
				counts = in.settle(t, during)
				// The new server starts empty: user-during gets a fresh limit.
				assert.Equal(t, 2, counts[notify.StatusSent], "limits apply to the deferred deliveries")
				assert.Equal(t, 2, counts[notify.StatusSkipped])
				assert.Zero(t, lim.FailOpens())
			}

			after := in.send(t, "user-after", 4)
			counts = in.settle(t, after)
			assert.Equal(t, 2, counts[notify.StatusSent], "the limit holds again after Redis restarts")
			assert.Equal(t, 2, counts[notify.StatusSkipped])
			assert.Empty(t, in.ch.Duplicates(), "nothing sent twice")
		})
	}
}
