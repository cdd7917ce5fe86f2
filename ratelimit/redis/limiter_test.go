package redis_test

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gonotify/notify"
	"github.com/gonotify/notify/internal/redistest"
	ratelimit "github.com/gonotify/notify/ratelimit/redis"
	goredis "github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func newLimiter(t *testing.T, rdb goredis.UniversalClient, cfg ratelimit.Config) *ratelimit.Limiter {
	t.Helper()
	if cfg.Prefix == "" {
		cfg.Prefix = redistest.Prefix(t)
	}
	l, err := ratelimit.New(rdb, cfg)
	require.NoError(t, err)
	return l
}

// TestAllowExact checks GCRA to the event on limits whose interval is not a
// round number of seconds (every interval is over a second, so real time
// refills nothing during a burst), where floating-point limiters (redis_rate) report
// Remaining one low: a full burst with Remaining counting down exactly, then
// a denial with RetryAfter at most one interval, which itself is not counted.
func TestAllowExact(t *testing.T) {
	rdb := redistest.Client(t)
	l := newLimiter(t, rdb, ratelimit.Config{})
	ctx := context.Background()
	limits := []notify.Limit{
		{Rate: 7, Per: time.Minute},
		{Rate: 3, Per: 7 * time.Second},
		{Rate: 5, Per: time.Minute},
		{Rate: 13, Per: 14 * time.Second},
		{Rate: 10, Per: 25 * time.Second, Burst: 3},
		{Rate: 3, Per: time.Hour, Burst: 10},
		{Rate: 1, Per: 24 * time.Hour},
		{Rate: 100, Per: time.Hour},
	}
	for _, lim := range limits {
		t.Run(fmt.Sprintf("%d per %s burst %d", lim.Rate, lim.Per, lim.Burst), func(t *testing.T) {
			burst := lim.Burst
			if burst == 0 {
				burst = lim.Rate
			}
			interval := lim.Per / time.Duration(lim.Rate)
			for round := range 3 { // fresh keys: no luck with timing
				key := fmt.Sprintf("%s/user-%d", t.Name(), round)
				start := time.Now()
				for i := range burst {
					d, err := l.Allow(ctx, notify.LimitRequest{Key: key, Limit: lim})
					require.NoError(t, err)
					assert.True(t, d.Allowed, "event %d of a burst of %d", i+1, burst)
					assert.Equal(t, burst-1-i, d.Remaining, "remaining after event %d", i+1)
					assert.Zero(t, d.RetryAfter)
				}
				for range 2 {
					d, err := l.Allow(ctx, notify.LimitRequest{Key: key, Limit: lim})
					elapsed := time.Since(start)
					require.NoError(t, err)
					assert.False(t, d.Allowed, "the event after a full burst")
					assert.Zero(t, d.Remaining)
					// The first event's interval has been running since start.
					assert.LessOrEqual(t, d.RetryAfter, interval+time.Microsecond)
					assert.GreaterOrEqual(t, d.RetryAfter, interval-elapsed-time.Millisecond)
				}
			}
		})
	}
}

// TestAllowRefills waits RetryAfter after a denial and is allowed again,
// exactly one event.
func TestAllowRefills(t *testing.T) {
	l := newLimiter(t, redistest.Client(t), ratelimit.Config{})
	ctx := context.Background()
	lim := notify.Limit{Rate: 1, Per: time.Second, Burst: 2} // one a second: round trips refill nothing
	for range 2 {
		d, err := l.Allow(ctx, notify.LimitRequest{Key: "k", Limit: lim})
		require.NoError(t, err)
		require.True(t, d.Allowed)
	}
	d, err := l.Allow(ctx, notify.LimitRequest{Key: "k", Limit: lim})
	require.NoError(t, err)
	require.False(t, d.Allowed)
	time.Sleep(d.RetryAfter)
	d, err = l.Allow(ctx, notify.LimitRequest{Key: "k", Limit: lim})
	require.NoError(t, err)
	assert.True(t, d.Allowed, "allowed after waiting RetryAfter")
	assert.Zero(t, d.Remaining)
	d, err = l.Allow(ctx, notify.LimitRequest{Key: "k", Limit: lim})
	require.NoError(t, err)
	assert.False(t, d.Allowed, "one interval refills one event, not more")
}

// TestAllowSharedAcrossInstances runs two Limiters on two connections, as
// two processes would, with many concurrent callers: exactly the burst gets
// through, no more.
func TestAllowSharedAcrossInstances(t *testing.T) {
	prefix := redistest.Prefix(t)
	a := newLimiter(t, redistest.Client(t), ratelimit.Config{Prefix: prefix})
	b := newLimiter(t, redistest.Client(t), ratelimit.Config{Prefix: prefix})
	lim := notify.Limit{Rate: 25, Per: time.Hour}
	var allowed atomic.Int64
	var wg sync.WaitGroup
	for g := range 20 {
		l := a
		if g%2 == 1 {
			l = b
		}
		wg.Go(func() {
			for range 10 {
				d, err := l.Allow(context.Background(), notify.LimitRequest{Key: "user-1", Limit: lim})
				if !assert.NoError(t, err) {
					return
				}
				if d.Allowed {
					allowed.Add(1)
				}
			}
		})
	}
	wg.Wait()
	assert.EqualValues(t, 25, allowed.Load(), "200 attempts from two instances under 25 per hour")
}

func TestAllowZeroLimitTouchesNothing(t *testing.T) {
	rdb := redistest.Client(t)
	prefix := redistest.Prefix(t)
	l := newLimiter(t, rdb, ratelimit.Config{Prefix: prefix})
	for range 5 {
		d, err := l.Allow(context.Background(), notify.LimitRequest{Key: "k", Limit: notify.Limit{}})
		require.NoError(t, err)
		assert.True(t, d.Allowed)
	}
	n, err := rdb.Exists(context.Background(), prefix+"k").Result()
	require.NoError(t, err)
	assert.Zero(t, n)
}

func TestAllowKeyLayoutAndExpiry(t *testing.T) {
	rdb := redistest.Client(t)
	prefix := redistest.Prefix(t)
	l := newLimiter(t, rdb, ratelimit.Config{Prefix: prefix})
	_, err := l.Allow(context.Background(), notify.LimitRequest{Key: "user:42", Limit: notify.Limit{Rate: 2, Per: 10 * time.Second}})
	require.NoError(t, err)
	ttl, err := rdb.PTTL(context.Background(), prefix+"user:42").Result()
	require.NoError(t, err)
	// One event of a 2-per-10s limit: the key lives one interval (5s).
	assert.Greater(t, ttl, 4*time.Second)
	assert.LessOrEqual(t, ttl, 5*time.Second)
}

// TestAllowIDKeyLayout checks what an event with an ID leaves on Redis:
// one sorted set that lives as long as the ID is remembered (the limit's
// window), and holds a bounded number of IDs however many are forced.
func TestAllowIDKeyLayout(t *testing.T) {
	rdb := redistest.Client(t)
	prefix := redistest.Prefix(t)
	l := newLimiter(t, rdb, ratelimit.Config{Prefix: prefix})
	ctx := context.Background()
	lim := notify.Limit{Rate: 2, Per: 10 * time.Second}
	_, err := l.Allow(ctx, notify.LimitRequest{Key: "user:42", ID: "n1", Limit: lim})
	require.NoError(t, err)
	typ, err := rdb.Type(ctx, prefix+"user:42").Result()
	require.NoError(t, err)
	assert.Equal(t, "zset", typ)
	ttl, err := rdb.PTTL(ctx, prefix+"user:42").Result()
	require.NoError(t, err)
	// The ID is remembered for Per (10s), longer than the TAT (5s).
	assert.Greater(t, ttl, 9*time.Second)
	assert.LessOrEqual(t, ttl, 10*time.Second)

	// An event without an ID does not cut the IDs' life short.
	_, err = l.Allow(ctx, notify.LimitRequest{Key: "user:42", Limit: lim})
	require.NoError(t, err)
	ttl, err = rdb.PTTL(ctx, prefix+"user:42").Result()
	require.NoError(t, err)
	assert.Greater(t, ttl, 9*time.Second)

	// Forced IDs: at most burst + window/interval + 1 = 5 remembered.
	for i := range 50 {
		d, err := l.Allow(ctx, notify.LimitRequest{Key: "user:42", ID: fmt.Sprint("f", i), Limit: lim, Force: true})
		require.NoError(t, err)
		require.True(t, d.Allowed)
	}
	n, err := rdb.ZCard(ctx, prefix+"user:42").Result()
	require.NoError(t, err)
	assert.Equal(t, int64(5+1), n, "the IDs and the TAT")
	score, err := rdb.ZScore(ctx, prefix+"user:42", "t").Result()
	require.NoError(t, err, "the TAT is kept when IDs are forgotten")
	assert.Positive(t, score)
}

// TestAllowStringKeyStartsAfresh checks that a key of another type (as
// earlier versions wrote: the TAT in a string) is taken over, with the
// full burst, instead of failing every Allow.
func TestAllowStringKeyStartsAfresh(t *testing.T) {
	rdb := redistest.Client(t)
	prefix := redistest.Prefix(t)
	l := newLimiter(t, rdb, ratelimit.Config{Prefix: prefix, FailurePolicy: ratelimit.FailClosed})
	ctx := context.Background()
	require.NoError(t, rdb.Set(ctx, prefix+"k", "99999999999999999", time.Minute).Err())
	d, err := l.Allow(ctx, notify.LimitRequest{Key: "k", Limit: notify.Limit{Rate: 3, Per: time.Hour}})
	require.NoError(t, err)
	assert.Equal(t, notify.Decision{Allowed: true, Remaining: 2}, d)
}

func TestAllowRejectsHugeLimit(t *testing.T) {
	l := newLimiter(t, redistest.Client(t), ratelimit.Config{})
	_, err := l.Allow(context.Background(), notify.LimitRequest{Key: "k", Limit: notify.Limit{Rate: 1, Per: 100 * 365 * 24 * time.Hour, Burst: 1000}})
	assert.ErrorContains(t, err, "2^52")
}

func TestNewChecksConfig(t *testing.T) {
	_, err := ratelimit.New(nil, ratelimit.Config{})
	assert.Error(t, err)
	_, err = ratelimit.New(goredis.NewClient(&goredis.Options{}), ratelimit.Config{FailurePolicy: 7})
	assert.Error(t, err)
}

// syncBuffer is a bytes.Buffer safe for the concurrent writes of a logger.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// deadClient is a client of a Redis that is not there, failing fast: port
// 1 (tcpmux) refuses connections, and unlike a freed ephemeral port no
// other test can start listening on it.
func deadClient(t *testing.T) *goredis.Client {
	rdb := goredis.NewClient(&goredis.Options{Addr: "127.0.0.1:1", MaxRetries: -1})
	t.Cleanup(func() { _ = rdb.Close() })
	return rdb
}

func TestFailOpen(t *testing.T) {
	var logs syncBuffer
	l := newLimiter(t, deadClient(t), ratelimit.Config{Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	lim := notify.Limit{Rate: 1, Per: time.Hour}
	for range 3 {
		d, err := l.Allow(context.Background(), notify.LimitRequest{Key: "k", Limit: lim})
		require.NoError(t, err)
		assert.True(t, d.Allowed, "fail-open allows when Redis is unreachable")
	}
	ds, errs := l.AllowBatch(context.Background(), []ratelimit.Request{{Key: "a", Limit: lim}, {Key: "b", Limit: lim}})
	assert.Nil(t, errs)
	assert.True(t, ds[0].Allowed && ds[1].Allowed)
	assert.EqualValues(t, 5, l.FailOpens())
	assert.Contains(t, logs.String(), "level=WARN")
	assert.Contains(t, logs.String(), "fail-open")
	assert.Equal(t, 1, bytes.Count([]byte(logs.String()), []byte("level=WARN")), "one warning per outage, not one per event")
}

func TestFailClosed(t *testing.T) {
	l := newLimiter(t, deadClient(t), ratelimit.Config{FailurePolicy: ratelimit.FailClosed})
	lim := notify.Limit{Rate: 1, Per: time.Hour}
	d, err := l.Allow(context.Background(), notify.LimitRequest{Key: "k", Limit: lim})
	assert.Error(t, err)
	assert.False(t, d.Allowed)
	ds, errs := l.AllowBatch(context.Background(), []ratelimit.Request{{Key: "a", Limit: lim}, {Key: "b"}})
	require.Len(t, errs, 2)
	assert.Error(t, errs[0])
	assert.False(t, ds[0].Allowed)
	assert.NoError(t, errs[1], "a zero limit needs no Redis")
	assert.True(t, ds[1].Allowed)
	assert.Zero(t, l.FailOpens())
}

func TestCanceledContextIsAnErrorUnderFailOpen(t *testing.T) {
	l := newLimiter(t, deadClient(t), ratelimit.Config{})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := l.Allow(ctx, notify.LimitRequest{Key: "k", Limit: notify.Limit{Rate: 1, Per: time.Hour}})
	assert.ErrorIs(t, err, context.Canceled)
	assert.Zero(t, l.FailOpens())
}

// TestStalledRedisFailsOpen pauses a private Redis: Allow gives up after the
// client's ReadTimeout and fails open instead of waiting for Redis.
func TestStalledRedisFailsOpen(t *testing.T) {
	srv := redistest.StartServer(t)
	rdb := goredis.NewClient(&goredis.Options{Addr: srv.Addr, MaxRetries: -1, ReadTimeout: 100 * time.Millisecond})
	t.Cleanup(func() { _ = rdb.Close() })
	admin := goredis.NewClient(&goredis.Options{Addr: srv.Addr})
	t.Cleanup(func() { _ = admin.Close() })
	l := newLimiter(t, rdb, ratelimit.Config{})
	lim := notify.Limit{Rate: 1, Per: time.Hour}
	d, err := l.Allow(context.Background(), notify.LimitRequest{Key: "k", Limit: lim}) // loads the script, opens a connection
	require.NoError(t, err)
	require.True(t, d.Allowed)
	require.NoError(t, admin.Do(context.Background(), "CLIENT", "PAUSE", "2000", "ALL").Err())
	t.Cleanup(func() { admin.Do(context.Background(), "CLIENT", "UNPAUSE") })
	d, err = l.Allow(context.Background(), notify.LimitRequest{Key: "k", Limit: lim})
	require.NoError(t, err)
	assert.True(t, d.Allowed, "fail-open, though the limit is spent: Redis did not answer")
	assert.EqualValues(t, 1, l.FailOpens())
}
