package redis_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
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

// prompt is how soon after its ctx ends a call must return in these tests:
// "at once", with room for a loaded machine running -race.
const prompt = 700 * time.Millisecond

// TestBlackHoledRedisReturnsWithCtx: with a Redis that never answers, and a
// client that leaves ctx out of its socket reads, Claim, ClaimBatch and
// Release return ctx's error as soon as ctx ends (300ms), not after the
// client's timeouts and retries, and claim nothing.
func TestBlackHoledRedisReturnsWithCtx(t *testing.T) {
	d := newDeduper(t, redistest.BlackHoleClient(t))
	timed := func(what string, call func(ctx context.Context) error) {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
		defer cancel()
		start := time.Now()
		err := call(ctx)
		took := time.Since(start)
		assert.ErrorIs(t, err, context.DeadlineExceeded, what)
		assert.Less(t, took, 300*time.Millisecond+prompt, "%s returned %s after its ctx ended", what, took-300*time.Millisecond)
	}
	timed("Claim", func(ctx context.Context) error {
		ok, holder, err := d.Claim(ctx, "evt", "n1", time.Minute)
		assert.False(t, ok)
		assert.Empty(t, holder)
		return err
	})
	timed("ClaimBatch", func(ctx context.Context) error {
		rs, errs := d.ClaimBatch(ctx, []dedup.Claim{{Key: "a", Owner: "n1", TTL: time.Minute}, {Key: "b", Owner: "n1"}})
		require.Len(t, errs, 2)
		assert.False(t, rs[0].Claimed)
		assert.True(t, rs[1].Claimed, "a claim without a ttl needs no Redis")
		assert.NoError(t, errs[1])
		return errs[0]
	})
	timed("Release", func(ctx context.Context) error { return d.Release(ctx, "other", "n1") })

	// A canceled ctx, without a deadline, is as prompt.
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(100*time.Millisecond, cancel)
	start := time.Now()
	_, _, err := d.Claim(ctx, "evt-2", "n1", time.Minute)
	assert.ErrorIs(t, err, context.Canceled)
	assert.Less(t, time.Since(start), 100*time.Millisecond+prompt)
}

// TestBlackHoledRedisSend sends through a Dispatcher whose Deduper's Redis
// never answers, under a 500ms deadline: Send returns by then, with an
// error that does not say "nothing was queued" (the claim it gave up on may
// yet be made), and queues nothing.
func TestBlackHoledRedisSend(t *testing.T) {
	dd, err := dedup.New(redistest.BlackHoleClient(t), dedup.Config{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	require.NoError(t, err)
	q := memqueue.New(memqueue.Config{})
	t.Cleanup(func() { _ = q.Close() })
	d, err := notify.New(notify.Config{
		Queue:    q,
		Store:    memstore.New(memstore.Config{}),
		Deduper:  dd,
		Channels: []notify.Channel{notifytest.NewChannel(notify.ChannelSMS)},
		Logger:   slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	require.NoError(t, err)

	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err = d.Send(ctx, notify.Notification{
		EventID: "evt-1",
		To:      []notify.Address{{Channel: notify.ChannelSMS, Value: "+15550100"}},
		Content: &notify.Message{Text: "hello"},
	})
	took := time.Since(start)
	require.Error(t, err)
	assert.False(t, errors.Is(err, notify.ErrNotQueued), "the claim may yet be made: %v", err)
	assert.Less(t, took, 500*time.Millisecond+prompt, "Send returned %s after its deadline", took-500*time.Millisecond)
	st, err := q.Stats(context.Background(), d.QueueName(notify.ChannelSMS))
	require.NoError(t, err)
	assert.Equal(t, notify.QueueStats{}, st, "nothing queued")
}

// TestClaimAnsweredAfterItsCallerLeft pauses a private Redis so that a
// Claim's ctx ends before Redis answers: Claim returns ctx's error at once;
// until Redis answers, Release of that key and owner says it cannot know;
// when Redis wakes it applies the claim, and the Deduper releases it, since
// its caller was told nothing is claimed.
func TestClaimAnsweredAfterItsCallerLeft(t *testing.T) {
	srv := redistest.StartServer(t)
	rdb := goredis.NewClient(&goredis.Options{Addr: srv.Addr, MaxRetries: -1})
	t.Cleanup(func() { _ = rdb.Close() })
	admin := goredis.NewClient(&goredis.Options{Addr: srv.Addr})
	t.Cleanup(func() { _ = admin.Close() })
	d, err := dedup.New(rdb, dedup.Config{Prefix: "p:"})
	require.NoError(t, err)
	bg := context.Background()
	require.NoError(t, rdb.Ping(bg).Err()) // a connection to reuse
	require.NoError(t, admin.Do(bg, "CLIENT", "PAUSE", "1000", "ALL").Err())

	for _, batch := range []bool{false, true} {
		key := map[bool]string{false: "one", true: "batch"}[batch]
		ctx, cancel := context.WithTimeout(bg, 100*time.Millisecond)
		start := time.Now()
		if batch {
			_, errs := d.ClaimBatch(ctx, []dedup.Claim{{Key: key, Owner: "n1", TTL: time.Minute}, {Key: key + "-2", Owner: "n1", TTL: time.Minute}})
			require.Len(t, errs, 2)
			err = errs[0]
		} else {
			_, _, err = d.Claim(ctx, key, "n1", time.Minute)
		}
		cancel()
		require.ErrorIs(t, err, context.DeadlineExceeded)
		assert.Less(t, time.Since(start), 100*time.Millisecond+prompt)
		err = d.Release(bg, key, "n1")
		require.Error(t, err, "a claim still waiting for Redis: Release cannot know")
		assert.Contains(t, err.Error(), "still waiting for Redis")
	}

	// Redis wakes within the second (a client's UNPAUSE would wait too).
	for _, key := range []string{"one", "batch", "batch-2"} {
		require.Eventually(t, func() bool { return d.Release(bg, key, "n1") == nil }, 5*time.Second, 10*time.Millisecond,
			"Release works once Redis has answered the claim of %s", key)
		n, err := admin.Exists(bg, "p:"+key).Result()
		require.NoError(t, err)
		assert.Zero(t, n, "the claim of %s, made after its caller left, is released", key)
		ok, _, err := d.Claim(bg, key, "n2", time.Minute)
		require.NoError(t, err)
		assert.True(t, ok, "%s is free", key)
	}
}
