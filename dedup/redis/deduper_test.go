package redis_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	dedup "github.com/gonotify/notify/dedup/redis"
	"github.com/gonotify/notify/internal/redistest"
	goredis "github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func newDeduper(t *testing.T, rdb goredis.UniversalClient) *dedup.Deduper {
	t.Helper()
	d, err := dedup.New(rdb, dedup.Config{Prefix: redistest.Prefix(t)})
	require.NoError(t, err)
	return d
}

// TestClaimSharedAcrossInstances claims one key from two Dedupers on two
// connections, as two processes would: one winner, and everybody else names it.
func TestClaimSharedAcrossInstances(t *testing.T) {
	prefix := redistest.Prefix(t)
	var ds [2]*dedup.Deduper
	for i := range ds {
		d, err := dedup.New(redistest.Client(t), dedup.Config{Prefix: prefix})
		require.NoError(t, err)
		ds[i] = d
	}
	const claimers = 40
	won := make([]bool, claimers)
	holders := make([]string, claimers)
	var wg sync.WaitGroup
	for i := range claimers {
		wg.Go(func() {
			ok, holder, err := ds[i%2].Claim(context.Background(), "event-1", fmt.Sprint("n", i), time.Minute)
			assert.NoError(t, err)
			won[i], holders[i] = ok, holder
		})
	}
	wg.Wait()
	winner := ""
	for i, ok := range won {
		if ok {
			require.Empty(t, winner, "two winners")
			winner = fmt.Sprint("n", i)
		}
	}
	require.NotEmpty(t, winner)
	for i := range claimers {
		if !won[i] {
			assert.Equal(t, winner, holders[i])
		}
	}
}

func TestClaimKeyLayoutAndTTL(t *testing.T) {
	rdb := redistest.Client(t)
	prefix := redistest.Prefix(t)
	d, err := dedup.New(rdb, dedup.Config{Prefix: prefix})
	require.NoError(t, err)
	ok, _, err := d.Claim(context.Background(), "evt", "n1", 1500*time.Microsecond+time.Hour)
	require.NoError(t, err)
	require.True(t, ok)
	v, err := rdb.Get(context.Background(), prefix+"evt").Result()
	require.NoError(t, err)
	assert.Equal(t, "n1", v, "the key holds the owner")
	ttl, err := rdb.PTTL(context.Background(), prefix+"evt").Result()
	require.NoError(t, err)
	assert.Greater(t, ttl, time.Hour-time.Minute)
	assert.LessOrEqual(t, ttl, time.Hour+2*time.Millisecond, "ttl rounded up to a millisecond")
}

func TestClaimAgainBySameOwner(t *testing.T) {
	d := newDeduper(t, redistest.Client(t))
	for range 2 {
		ok, holder, err := d.Claim(context.Background(), "evt", "n1", time.Minute)
		require.NoError(t, err)
		assert.True(t, ok, "a retried claim by its owner")
		assert.Empty(t, holder)
	}
}

// TestClaimWithoutTTL: a ttl <= 0 wins and holds nothing (the contract).
func TestClaimWithoutTTL(t *testing.T) {
	rdb := redistest.Client(t)
	prefix := redistest.Prefix(t)
	d, err := dedup.New(rdb, dedup.Config{Prefix: prefix})
	require.NoError(t, err)
	ctx := context.Background()
	for _, ttl := range []time.Duration{0, -time.Second} {
		ok, holder, err := d.Claim(ctx, "evt", "n1", ttl)
		require.NoError(t, err)
		assert.True(t, ok)
		assert.Empty(t, holder)
	}
	rs, errs := d.ClaimBatch(ctx, []dedup.Claim{{Key: "evt", Owner: "n2"}, {Key: "evt", Owner: "n3", TTL: time.Minute}})
	require.Nil(t, errs)
	assert.Equal(t, []dedup.ClaimResult{{Claimed: true}, {Claimed: true}}, rs, "the ttl-less claims held nothing")
	n, err := rdb.Exists(ctx, prefix+"evt").Result()
	require.NoError(t, err)
	assert.EqualValues(t, 1, n, "only the claim with a ttl is stored")
	_, err = dedup.New(nil, dedup.Config{})
	assert.Error(t, err)
}

// TestClaimBatch checks that a batch decides as the same claims one by one
// would: in order, later claims of a key losing to earlier ones.
func TestClaimBatch(t *testing.T) {
	for _, legacy := range []bool{false, true} {
		t.Run(fmt.Sprint("legacy=", legacy), func(t *testing.T) {
			d := newDeduper(t, redistest.Client(t))
			if legacy {
				d.ForceLegacy()
			}
			ctx := context.Background()
			ok, _, err := d.Claim(ctx, "held", "n0", time.Minute)
			require.NoError(t, err)
			require.True(t, ok)
			rs, errs := d.ClaimBatch(ctx, []dedup.Claim{
				{Key: "a", Owner: "n1", TTL: time.Minute},
				{Key: "a", Owner: "n2", TTL: time.Minute},
				{Key: "b", Owner: "n3", TTL: time.Minute},
				{Key: "held", Owner: "n4", TTL: time.Minute},
				{Key: "a", Owner: "n1", TTL: time.Minute},
			})
			require.Nil(t, errs)
			assert.Equal(t, []dedup.ClaimResult{
				{Claimed: true},
				{Claimed: false, Holder: "n1"},
				{Claimed: true},
				{Claimed: false, Holder: "n0"},
				{Claimed: true},
			}, rs)
		})
	}
}

// TestFailClosed: with Redis gone, Claim, ClaimBatch and Release return
// errors; none reports a claim.
func TestFailClosed(t *testing.T) {
	srv := redistest.StartServer(t)
	srv.Stop(t)
	rdb := goredis.NewClient(&goredis.Options{Addr: srv.Addr, MaxRetries: -1})
	t.Cleanup(func() { _ = rdb.Close() })
	d := newDeduper(t, rdb)
	ok, holder, err := d.Claim(context.Background(), "evt", "n1", time.Minute)
	assert.Error(t, err)
	assert.False(t, ok)
	assert.Empty(t, holder)
	assert.Contains(t, err.Error(), "retry")
	rs, errs := d.ClaimBatch(context.Background(), []dedup.Claim{{Key: "a", Owner: "n1", TTL: time.Minute}})
	require.Len(t, errs, 1)
	assert.Error(t, errs[0])
	assert.False(t, rs[0].Claimed)
	assert.Error(t, d.Release(context.Background(), "evt", "n1"))
}

// TestRedisRestart claims, loses Redis (killed), fails closed while it is
// gone, and works again when it is back. The server runs without
// persistence, so its claims are gone with it (see the package doc).
func TestRedisRestart(t *testing.T) {
	srv := redistest.StartServer(t)
	rdb := goredis.NewClient(&goredis.Options{Addr: srv.Addr, MaxRetries: -1})
	t.Cleanup(func() { _ = rdb.Close() })
	d := newDeduper(t, rdb)
	ctx := context.Background()
	ok, _, err := d.Claim(ctx, "evt-1", "n1", time.Minute)
	require.NoError(t, err)
	require.True(t, ok)

	srv.Stop(t)
	_, _, err = d.Claim(ctx, "evt-2", "n2", time.Minute)
	assert.Error(t, err, "fail closed while Redis is down")
	assert.Error(t, d.Release(ctx, "evt-1", "n1"))

	srv.Start(t)
	require.Eventually(t, func() bool {
		ok, _, err = d.Claim(ctx, "evt-2", "n2", time.Minute)
		return err == nil
	}, 5*time.Second, 20*time.Millisecond, "claims work again after Redis restarts")
	assert.True(t, ok)
	ok, holder, err := d.Claim(ctx, "evt-2", "n3", time.Minute)
	require.NoError(t, err)
	assert.False(t, ok)
	assert.Equal(t, "n2", holder)
	assert.NoError(t, d.Release(ctx, "evt-2", "n2"), "Release (its script unknown to the new server) works")
	ok, _, err = d.Claim(ctx, "evt-2", "n3", time.Minute)
	require.NoError(t, err)
	assert.True(t, ok)
}

// TestLostReplyLeavesNoClaim makes Redis apply a claim whose reply the
// client never reads: the server sleeps (DEBUG SLEEP) while the SET sits in
// its socket, the client's read times out, and Redis runs the SET when it
// wakes. Claim must return an error and leave nothing claimed, or a retried
// Send would be taken for a duplicate of one that was never queued.
func TestLostReplyLeavesNoClaim(t *testing.T) {
	srv := redistest.StartServer(t, "--enable-debug-command", "local")
	rdb := goredis.NewClient(&goredis.Options{Addr: srv.Addr, MaxRetries: -1, ReadTimeout: 100 * time.Millisecond})
	t.Cleanup(func() { _ = rdb.Close() })
	admin := goredis.NewClient(&goredis.Options{Addr: srv.Addr})
	t.Cleanup(func() { _ = admin.Close() })
	d, err := dedup.New(rdb, dedup.Config{Prefix: "p:"})
	require.NoError(t, err)
	ctx := context.Background()
	require.NoError(t, rdb.Ping(ctx).Err())

	probe := goredis.NewClient(&goredis.Options{Addr: srv.Addr, MaxRetries: -1, ReadTimeout: 10 * time.Millisecond, PoolSize: 1})
	t.Cleanup(func() { _ = probe.Close() })
	// A loaded machine can make the probe think Redis sleeps before it
	// does; the Claim is then answered. Such a round proves nothing, and
	// the next one, on a new key, tries again.
	key := ""
	for round := 0; key == "" && round < 5; round++ {
		slept := make(chan error, 1)
		go func() { slept <- admin.Do(ctx, "DEBUG", "SLEEP", "0.5").Err() }()
		// Wait until the server sleeps: a probe's PING goes unanswered.
		require.Eventually(t, func() bool { return probe.Ping(ctx).Err() != nil }, 2*time.Second, time.Millisecond)
		k := fmt.Sprint("evt", round)
		if _, _, err := d.Claim(ctx, k, "n1", time.Minute); err != nil {
			key = k // the reply was lost
		}
		require.NoError(t, <-slept)
	}
	require.NotEmpty(t, key, "no Claim of five met a sleeping Redis")

	// The SET ran when Redis woke; the cleanup ran after it.
	n, err := admin.Exists(ctx, "p:"+key).Result()
	require.NoError(t, err)
	assert.Zero(t, n, "a claim whose reply was lost is still held")
	ok, _, err := d.Claim(ctx, key, "n2", time.Minute)
	require.NoError(t, err)
	assert.True(t, ok, "a retried claim after a lost reply")
}
