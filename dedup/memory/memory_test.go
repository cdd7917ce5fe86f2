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

		// Live claims fill the bound exactly, across shards; past it a new
		// key is refused and no live claim is dropped.
		for i := range maxKeys {
			ok, _, err := d.Claim(ctx, fmt.Sprintf("long-%d", i), "n", time.Hour)
			require.NoError(t, err, "claim %d of %d", i, maxKeys)
			require.True(t, ok)
		}
		assert.Equal(t, maxKeys, d.Len())
		ok, _, err := d.Claim(ctx, "one-too-many", "n", time.Hour)
		require.ErrorIs(t, err, memory.ErrFull, "a claim past MaxKeys live ones is refused")
		assert.False(t, ok)
		for i := range maxKeys {
			ok, holder, err := d.Claim(ctx, fmt.Sprintf("long-%d", i), "other", time.Hour)
			require.NoError(t, err)
			require.False(t, ok, "live claim %d was dropped before its ttl", i)
			require.Equal(t, "n", holder)
		}
		// Once they expire, new claims take their place.
		time.Sleep(time.Hour)
		ok, _, err = d.Claim(ctx, "one-too-many", "n", time.Hour)
		require.NoError(t, err)
		assert.True(t, ok)
		assert.LessOrEqual(t, d.Len(), maxKeys)

		// Claim and release churn does not grow memory either.
		for i := range 100 * maxKeys {
			key := fmt.Sprintf("churn-%d", i%7)
			_, _, _ = d.Claim(ctx, key, "n", time.Hour)
			_ = d.Release(ctx, key, "n")
		}
		assert.LessOrEqual(t, d.Len(), maxKeys)
	})
}

// Owners that are canonical UUIDs are stored as 16 bytes, others as
// strings; either way Claim and Holder give them back, and Release
// matches them exactly.
func TestOwners(t *testing.T) {
	ctx := context.Background()
	d := memory.New(memory.Config{})
	for _, owner := range []string{"0190f5a0-1c2b-7d3e-8f40-5a6b7c8d9e0f", "0190F5A0-1C2B-7D3E-8F40-5A6B7C8D9E0F", "{0190f5a0-1c2b-7d3e-8f40-5a6b7c8d9e0f}", "n1", "",
		"0190f5a0-1c2b-7d3e-8f40-5a6b7c8d9e0F", "0190f5a01-c2b-7d3e-8f40-5a6b7c8d9e0f", "0190f5a0-1c2b-7d3e-8f40-5a6b7c8d9e0g",
		"0190f5a0_1c2b_7d3e_8f40_5a6b7c8d9e0f", "urn:uuid:0190f5a0-1c2b-7d3e-8f40-5a6b7c8d9e0f", "0190f5a01c2b7d3e8f405a6b7c8d9e0f",
		"ffffffff-ffff-ffff-ffff-ffffffffffff", "00000000-0000-0000-0000-000000000000",
		// Each hyphen of a canonical UUID replaced by a digit.
		"0190f5a001c2b-7d3e-8f40-5a6b7c8d9e0f", "0190f5a0-1c2b07d3e-8f40-5a6b7c8d9e0f",
		"0190f5a0-1c2b-7d3e08f40-5a6b7c8d9e0f", "0190f5a0-1c2b-7d3e-8f4005a6b7c8d9e0f"} {
		key := "k" + owner
		ok, _, err := d.Claim(ctx, key, owner, time.Hour)
		require.NoError(t, err)
		require.True(t, ok)
		ok, holder, err := d.Claim(ctx, key, "other", time.Hour)
		require.NoError(t, err)
		assert.False(t, ok)
		assert.Equal(t, owner, holder)
		got, err := d.Holder(ctx, key)
		require.NoError(t, err)
		assert.Equal(t, owner, got)
		require.NoError(t, d.Release(ctx, key, "other"))
		_, err = d.Holder(ctx, key)
		require.NoError(t, err, "another owner's release leaves the claim")
		require.NoError(t, d.Release(ctx, key, owner))
		_, err = d.Holder(ctx, key)
		require.ErrorIs(t, err, notify.ErrNotFound)
	}
	assert.Zero(t, d.Len())
}

// A claim of a key whose expired claim is still held counts once, and an
// unexpired entry of a released claim at the head of the order does not
// keep expired claims behind it from making room when MaxKeys are held.
func TestReclaimAndRoom(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		d := memory.New(memory.Config{MaxKeys: 1})
		ok, _, err := d.Claim(ctx, "k", "n1", time.Second)
		require.NoError(t, err)
		require.True(t, ok)
		time.Sleep(time.Second)
		ok, _, err = d.Claim(ctx, "k", "n2", time.Second)
		require.NoError(t, err)
		require.True(t, ok, "the expired claim is replaced")
		assert.Equal(t, 1, d.Len())

		// Every key, whatever its shard: a released hour-long claim, then a
		// second-long one behind it in the same shard's order.
		d = memory.New(memory.Config{MaxKeys: 16})
		for i := range 16 {
			key := fmt.Sprint("long-", i)
			_, _, err := d.Claim(ctx, key, "n", time.Hour)
			require.NoError(t, err)
			require.NoError(t, d.Release(ctx, key, "n"))
		}
		for i := range 16 {
			ok, _, err := d.Claim(ctx, fmt.Sprint("short-", i), "n", time.Second)
			require.NoError(t, err)
			require.True(t, ok)
		}
		time.Sleep(time.Second)
		for i := range 16 {
			ok, _, err := d.Claim(ctx, fmt.Sprint("next-", i), "n", time.Hour)
			require.NoError(t, err, "claim %d: the expired claims make room", i)
			require.True(t, ok)
		}
		assert.Equal(t, 16, d.Len())
	})
}
