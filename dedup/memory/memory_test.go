package memory_test

import (
	"context"
	"fmt"
	"testing"
	"testing/synctest"
	"time"

	"github.com/gonotify/notify"
	"github.com/gonotify/notify/dedup/memory"
	"github.com/gonotify/notify/notifytest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestConformance(t *testing.T) {
	notifytest.TestDeduper(t, func(t *testing.T) notify.Deduper {
		return memory.New(memory.Config{})
	})
}

func TestExpiry(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		d := memory.New(memory.Config{})
		ok, _, err := d.Claim(ctx, "k", "n1", time.Hour)
		require.NoError(t, err)
		require.True(t, ok)

		time.Sleep(time.Hour - time.Nanosecond)
		ok, holder, err := d.Claim(ctx, "k", "n2", time.Hour)
		require.NoError(t, err)
		assert.False(t, ok, "a claim one nanosecond before its ttl")
		assert.Equal(t, "n1", holder)

		time.Sleep(time.Nanosecond)
		ok, _, err = d.Claim(ctx, "k", "n2", time.Hour)
		require.NoError(t, err)
		assert.True(t, ok, "a claim at its ttl has expired")

		// Releasing the expired owner's claim does not touch the new one.
		require.NoError(t, d.Release(ctx, "k", "n1"))
		ok, holder, _ = d.Claim(ctx, "k", "n3", time.Hour)
		assert.False(t, ok)
		assert.Equal(t, "n2", holder)
	})
}

func TestBounded(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		const maxKeys = 160
		d := memory.New(memory.Config{MaxKeys: maxKeys})
		// Expired claims are dropped as new ones arrive.
		for i := range 10 * maxKeys {
			ok, _, err := d.Claim(ctx, fmt.Sprintf("short-%d", i), "n", time.Second)
			require.NoError(t, err)
			require.True(t, ok)
			if i%maxKeys == maxKeys-1 {
				time.Sleep(2 * time.Second)
			}
		}
		assert.LessOrEqual(t, d.Len(), maxKeys, "expired claims were kept")

		// Live claims past the bound evict the oldest.
		for i := range 10 * maxKeys {
			ok, _, err := d.Claim(ctx, fmt.Sprintf("long-%d", i), "n", time.Hour)
			require.NoError(t, err)
			require.True(t, ok)
		}
		assert.LessOrEqual(t, d.Len(), maxKeys, "live claims past MaxKeys were kept")
		ok, holder, _ := d.Claim(ctx, fmt.Sprintf("long-%d", 10*maxKeys-1), "other", time.Hour)
		assert.False(t, ok, "the newest claim must survive eviction")
		assert.Equal(t, "n", holder)

		// Claim and release churn does not grow memory either.
		for i := range 100 * maxKeys {
			key := fmt.Sprintf("churn-%d", i%7)
			_, _, _ = d.Claim(ctx, key, "n", time.Hour)
			_ = d.Release(ctx, key, "n")
		}
		assert.LessOrEqual(t, d.Len(), maxKeys)
	})
}
