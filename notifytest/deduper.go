package notifytest

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/gonotify/notify"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestDeduper runs the conformance suite for a notify.Deduper. newDeduper
// returns a deduper for one subtest and registers its own cleanup; the
// subtests run in parallel on keys of their own.
//
// It checks that the first claim wins and later ones learn the holder; that
// of 50 concurrent claims exactly one wins and every loser names the winner;
// that Release by a non-owner does nothing and by the owner frees the key;
// and that a claim expires after its ttl (about one second).
//
// Each optional capability the deduper has (found with notify.As, so a
// wrapper with Unwrap is checked too) is checked against the calls it
// stands for: a notify.BatchDeduper's ClaimBatch answers as Claim for each
// claim in turn would, also for repeats of a key within the batch, and
// fails the claims Claim fails (with a context already done) holding
// nothing; a notify.ClaimHolder's Holder answers a held key's owner and
// ErrNotFound for a free, released or expired one, claiming nothing; a
// notify.Pruner's Prune deletes expired claims, none before they expire,
// and keeps live ones.
func TestDeduper(t *testing.T, newDeduper func(t *testing.T) notify.Deduper) {
	run := func(name string, f func(t *testing.T, d notify.Deduper, key string)) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			d := newDeduper(t)
			require.NotNil(t, d, "newDeduper returned nil")
			f(t, d, UniqueName(t))
		})
	}
	run("FirstClaimWins", testDedupFirst)
	run("ConcurrentClaims", testDedupConcurrent)
	run("Release", testDedupRelease)
	run("Expiry", testDedupExpiry)
	run("ClaimBatch", testClaimBatch)
	run("ClaimHolder", testClaimHolder)
	t.Run("Prune", func(t *testing.T) { testDedupPrune(t, newDeduper(t), UniqueName(t)) }) // alone: Prune's count is its own
}

func claim(t *testing.T, d notify.Deduper, key, owner string, ttl time.Duration) (bool, string) {
	t.Helper()
	ok, holder, err := d.Claim(timeout(t, 10*time.Second), key, owner, ttl)
	require.NoError(t, err, "Claim")
	return ok, holder
}

func testDedupFirst(t *testing.T, d notify.Deduper, key string) {
	ok, _ := claim(t, d, key, "n1", time.Hour)
	assert.True(t, ok, "the first claim of a key")
	ok, holder := claim(t, d, key, "n2", time.Hour)
	assert.False(t, ok, "a second claim of a held key")
	assert.Equal(t, "n1", holder, "a losing claim names the holder")
	ok, holder = claim(t, d, key, "n3", time.Hour)
	assert.False(t, ok)
	assert.Equal(t, "n1", holder)

	ok, _ = claim(t, d, key+"-other", "n2", time.Hour)
	assert.True(t, ok, "another key is free")
}

func testDedupConcurrent(t *testing.T, d notify.Deduper, key string) {
	const claimers = 50
	ctx := timeout(t, 20*time.Second)
	type result struct {
		owner, holder string
		ok            bool
	}
	results := make([]result, claimers)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range claimers {
		wg.Go(func() {
			<-start
			owner := fmt.Sprintf("n%d", i)
			ok, holder, err := d.Claim(ctx, key, owner, time.Hour)
			assert.NoError(t, err)
			results[i] = result{owner, holder, ok}
		})
	}
	close(start)
	wg.Wait()
	var winners []string
	for _, r := range results {
		if r.ok {
			winners = append(winners, r.owner)
		}
	}
	require.Len(t, winners, 1, "exactly one of %d concurrent claims must win", claimers)
	for _, r := range results {
		if !r.ok {
			assert.Equal(t, winners[0], r.holder, "claim by %s names the wrong holder", r.owner)
		}
	}
}

func testDedupRelease(t *testing.T, d notify.Deduper, key string) {
	ctx := timeout(t, 10*time.Second)
	ok, _ := claim(t, d, key, "n1", time.Hour)
	require.True(t, ok)

	require.NoError(t, d.Release(ctx, key, "n2"), "Release by a non-owner")
	ok, holder := claim(t, d, key, "n3", time.Hour)
	assert.False(t, ok, "Release by a non-owner freed the key")
	assert.Equal(t, "n1", holder)

	require.NoError(t, d.Release(ctx, key, "n1"), "Release by the owner")
	ok, _ = claim(t, d, key, "n3", time.Hour)
	assert.True(t, ok, "a key released by its owner can be claimed again")
	ok, holder = claim(t, d, key, "n1", time.Hour)
	assert.False(t, ok)
	assert.Equal(t, "n3", holder)

	require.NoError(t, d.Release(ctx, key+"-never", "n1"), "Release of a key never claimed")
}

func testDedupExpiry(t *testing.T, d notify.Deduper, key string) {
	const ttl = time.Second
	claimed := time.Now() // the ttl starts no sooner than the call
	ok, _ := claim(t, d, key, "n1", ttl)
	require.True(t, ok)
	ok, holder := claim(t, d, key, "n2", ttl)
	require.False(t, ok, "a fresh claim must hold")
	assert.Equal(t, "n1", holder)

	deadline := claimed.Add(ttl + slack)
	for {
		ok, holder = claim(t, d, key, "n2", time.Hour)
		if ok {
			break
		}
		assert.Equal(t, "n1", holder)
		require.True(t, time.Now().Before(deadline), "a claim with a ttl of %v did not expire within %v", ttl, slack)
		time.Sleep(50 * time.Millisecond)
	}
	assert.GreaterOrEqual(t, time.Since(claimed), ttl-early, "a claim expired before its ttl")
	ok, holder = claim(t, d, key, "n3", time.Hour)
	assert.False(t, ok, "the claim made after expiry must hold")
	assert.Equal(t, "n2", holder)
}
