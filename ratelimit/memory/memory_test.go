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
	d, err := l.Allow(context.Background(), key, limit)
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
