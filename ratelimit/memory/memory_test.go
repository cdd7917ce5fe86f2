package memory_test

import (
	"context"
	"fmt"
	"testing"
	"testing/synctest"
	"time"

	"github.com/gonotify/notify"
	"github.com/gonotify/notify/notifytest"
	"github.com/gonotify/notify/ratelimit/memory"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestConformance(t *testing.T) {
	notifytest.TestLimiter(t, func(t *testing.T) notify.Limiter {
		return memory.New(memory.Config{})
	})
}

func allow(t *testing.T, l *memory.Limiter, key string, limit notify.Limit) notify.Decision {
	t.Helper()
	d, err := l.Allow(context.Background(), notify.LimitRequest{Key: key, Limit: limit})
	require.NoError(t, err)
	return d
}

// TestWindows checks GCRA to the nanosecond in a synctest bubble.
func TestWindows(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := memory.New(memory.Config{})
		limit := notify.Limit{Rate: 4, Per: time.Minute, Burst: 2} // one every 15s, bursts of 2
		d := allow(t, l, "k", limit)
		assert.Equal(t, notify.Decision{Allowed: true, Remaining: 1}, d)
		d = allow(t, l, "k", limit)
		assert.Equal(t, notify.Decision{Allowed: true, Remaining: 0}, d)
		d = allow(t, l, "k", limit)
		assert.Equal(t, notify.Decision{RetryAfter: 15 * time.Second}, d)

		time.Sleep(5 * time.Second)
		d = allow(t, l, "k", limit)
		assert.Equal(t, notify.Decision{RetryAfter: 10 * time.Second}, d, "denied events are not counted")

		time.Sleep(10*time.Second - time.Nanosecond)
		assert.False(t, allow(t, l, "k", limit).Allowed, "one nanosecond early")
		time.Sleep(time.Nanosecond)
		assert.Equal(t, notify.Decision{Allowed: true, Remaining: 0}, allow(t, l, "k", limit), "exactly at RetryAfter")

		// Idle for long enough, the full burst is back, and no more.
		time.Sleep(time.Hour)
		assert.Equal(t, notify.Decision{Allowed: true, Remaining: 1}, allow(t, l, "k", limit))
		assert.Equal(t, notify.Decision{Allowed: true, Remaining: 0}, allow(t, l, "k", limit))
		assert.False(t, allow(t, l, "k", limit).Allowed)

		// A steady rate of one per interval is always allowed.
		time.Sleep(time.Hour)
		for i := range 20 {
			assert.True(t, allow(t, l, "steady", limit).Allowed, "event %d at the steady rate", i)
			time.Sleep(15 * time.Second)
		}
	})
}

func TestZeroLimitAllows(t *testing.T) {
	l := memory.New(memory.Config{})
	for range 10 {
		assert.True(t, allow(t, l, "k", notify.Limit{}).Allowed)
	}
	assert.Equal(t, 0, l.Len(), "a zero limit holds no state")
}

// TestEviction checks that idle keys are dropped and MaxKeys holds.
func TestEviction(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const maxKeys = 1600
		l := memory.New(memory.Config{MaxKeys: maxKeys})
		limit := notify.Limit{Rate: 1, Per: time.Second}
		for round := range 20 {
			for i := range maxKeys / 2 {
				require.True(t, allow(t, l, fmt.Sprintf("r%d-%d", round, i), limit).Allowed)
			}
			time.Sleep(2 * time.Second) // every key so far is idle
		}
		assert.LessOrEqual(t, l.Len(), maxKeys, "idle keys were kept")

		// Busy keys past the bound: the count stays bounded.
		busy := notify.Limit{Rate: 1, Per: time.Hour}
		for i := range 5 * maxKeys {
			require.True(t, allow(t, l, fmt.Sprintf("busy-%d", i), busy).Allowed)
		}
		assert.LessOrEqual(t, l.Len(), maxKeys, "MaxKeys was passed")
		// The most recent key is still limited.
		assert.False(t, allow(t, l, fmt.Sprintf("busy-%d", 5*maxKeys-1), busy).Allowed)
	})
}

// TestIDWindow checks, to the nanosecond, how long a key remembers an ID:
// Per, or the burst's span when it is longer.
func TestIDWindow(t *testing.T) {
	for _, c := range []struct {
		name   string
		limit  notify.Limit
		window time.Duration
	}{
		{"Per", notify.Limit{Rate: 3, Per: time.Hour}, time.Hour},
		{"burst span", notify.Limit{Rate: 2, Per: time.Hour, Burst: 6}, 3 * time.Hour},
		{"small burst", notify.Limit{Rate: 4, Per: time.Hour, Burst: 1}, time.Hour},
	} {
		t.Run(c.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				l := memory.New(memory.Config{})
				req := notify.LimitRequest{Key: "k", ID: "n1", Limit: c.limit}
				first, err := l.Allow(t.Context(), req)
				require.NoError(t, err)
				require.True(t, first.Allowed)
				time.Sleep(c.window - time.Nanosecond)
				d, err := l.Allow(t.Context(), req)
				require.NoError(t, err)
				assert.True(t, d.Allowed, "one nanosecond before the window ends: remembered")
				assert.Equal(t, 1, l.Len(), "the key is held while it remembers an ID")
				time.Sleep(time.Nanosecond)
				// Forgotten, n1 counts afresh: the burst less one.
				d, err = l.Allow(t.Context(), req)
				require.NoError(t, err)
				assert.Equal(t, first, d, "at the window's end the ID is forgotten and counted again")
			})
		})
	}
}

// TestEvictionKeepsIDs checks that a key whose TAT has passed is kept
// while it remembers an ID, and dropped once the ID expires.
func TestEvictionKeepsIDs(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		// No key is dropped for room: every drop is a sweep.
		l := memory.New(memory.Config{})
		limit := notify.Limit{Rate: 10, Per: time.Minute} // TAT passes after 6s, IDs after 1m
		for i := range 2000 {
			_, err := l.Allow(t.Context(), notify.LimitRequest{Key: fmt.Sprint("k", i), ID: "n", Limit: limit})
			require.NoError(t, err)
			if i == 0 {
				time.Sleep(10 * time.Second) // k0's TAT has passed; its ID has not
			}
		}
		d, err := l.Allow(t.Context(), notify.LimitRequest{Key: "k0", ID: "n", Limit: limit})
		require.NoError(t, err)
		assert.Equal(t, notify.Decision{Allowed: true, Remaining: 10}, d, "k0 was swept while it remembered n: n was counted again")
		time.Sleep(time.Minute)
		for i := range 2000 {
			_, err := l.Allow(t.Context(), notify.LimitRequest{Key: fmt.Sprint("j", i), Limit: limit})
			require.NoError(t, err)
		}
		assert.Less(t, l.Len(), 3000, "keys whose IDs expired were not swept")
	})
}

// TestManyIDs checks that a key remembers every ID it counted, whether it
// holds few (found by a scan) or many (found in an index), and after the
// index is dropped with the last ID.
func TestManyIDs(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := memory.New(memory.Config{})
		limit := notify.Limit{Rate: 100, Per: time.Hour}
		allow := func(id string) notify.Decision {
			t.Helper()
			d, err := l.Allow(t.Context(), notify.LimitRequest{Key: "k", ID: id, Limit: limit})
			require.NoError(t, err)
			require.True(t, d.Allowed)
			return d
		}
		for round := range 2 {
			n := 40
			if round == 1 {
				n = 3 // after every ID was forgotten: few again
			}
			for i := range n {
				assert.Equal(t, 99-i, allow(fmt.Sprint("id-", i)).Remaining, "round %d: id-%d is counted", round, i)
			}
			for i := range n {
				assert.Equal(t, 100-n, allow(fmt.Sprint("id-", i)).Remaining, "round %d: id-%d again is not counted", round, i)
			}
			time.Sleep(time.Hour) // every ID forgotten, the TAT passed
		}
	})
}
