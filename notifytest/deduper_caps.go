package notifytest

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gonotify/notify"
)

// claimCase is one claim of testClaimBatch, on a key suffix.
type claimCase struct {
	key, owner string
	ttl        time.Duration
}

// claimBatchCases are claims whose answers depend on each other: repeats
// of one key within the batch, a key held before it, the holder claiming
// again, and a ttl of zero (wins and holds nothing).
var claimBatchCases = []claimCase{
	{"a", "n1", time.Hour},
	{"b", "n2", time.Hour},
	{"a", "n3", time.Hour},
	{"held", "n4", time.Hour},
	{"a", "n1", time.Hour},
	{"z", "n5", 0},
	{"z", "n6", time.Hour},
	{"z", "n7", time.Hour},
	{"b", "n2", time.Hour},
}

// testClaimBatch checks a notify.BatchDeduper's ClaimBatch against Claim:
// the same claims, made with one ClaimBatch on keys of their own and with
// one Claim each, in turn, on other keys, get the same answers and leave
// the same claims held; with a context already done, the same claims fail
// and none is held.
func testClaimBatch(t *testing.T, d notify.Deduper, key string) {
	bd, ok := notify.As[notify.BatchDeduper](d)
	if !ok {
		t.Skip("the deduper is not a notify.BatchDeduper")
	}
	ctx := timeout(t, 20*time.Second)
	done, cancel := context.WithCancel(ctx)
	cancel()
	for _, round := range []struct {
		name string
		ctx  context.Context
	}{{"live", ctx}, {"done", done}} {
		batchKey := func(k string) string { return key + "-" + round.name + "-batch-" + k }
		singleKey := func(k string) string { return key + "-" + round.name + "-single-" + k }
		for _, k := range []string{batchKey("held"), singleKey("held")} {
			ok, _ := claim(t, d, k, "n0", time.Hour)
			require.True(t, ok, "claim of a fresh key")
		}

		reqs := make([]notify.ClaimRequest, len(claimBatchCases))
		for i, c := range claimBatchCases {
			reqs[i] = notify.ClaimRequest{Key: batchKey(c.key), Owner: c.owner, TTL: c.ttl}
		}
		results, errs := bd.ClaimBatch(round.ctx, reqs)
		require.Len(t, results, len(reqs), "%s: ClaimBatch answers each claim", round.name)
		if errs != nil {
			require.Len(t, errs, len(reqs), "%s: ClaimBatch's errs is nil or has one error per claim", round.name)
		}
		if errs != nil && !slices.ContainsFunc(errs, func(err error) bool { return err != nil }) {
			t.Errorf("%s: ClaimBatch's errs must be nil when every claim got an answer, not %v", round.name, errs)
		}
		failed := 0
		for i, c := range claimBatchCases {
			claimed, holder, err := d.Claim(round.ctx, singleKey(c.key), c.owner, c.ttl)
			var berr error
			if errs != nil {
				berr = errs[i]
			}
			if (berr != nil) != (err != nil) {
				t.Errorf("%s: claim %d (%q by %s, ttl %v): ClaimBatch's error %v, Claim's %v", round.name, i, c.key, c.owner, c.ttl, berr, err)
				continue
			}
			if err != nil {
				failed++
				continue
			}
			assert.Equal(t, notify.ClaimResult{Claimed: claimed, Holder: holder}, results[i],
				"%s: claim %d (%q by %s, ttl %v): ClaimBatch answered otherwise than Claim in turn", round.name, i, c.key, c.owner, c.ttl)
		}
		if round.ctx == ctx {
			assert.Zero(t, failed, "claims with a live context failed")
		}

		// The claims held afterwards are the same: each key's holder, as a
		// later claim sees it.
		for _, k := range []string{"a", "b", "held", "z"} {
			bok, bholder := claim(t, d, batchKey(k), "probe", time.Hour)
			sok, sholder := claim(t, d, singleKey(k), "probe", time.Hour)
			assert.Equal(t, sok, bok, "%s: key %q is free after the single claims but not after ClaimBatch, or the reverse", round.name, k)
			assert.Equal(t, sholder, bholder, "%s: key %q's holder after ClaimBatch and after the single claims", round.name, k)
		}
	}

	// Claims with no ttl hold nothing, so may get an answer with a context
	// already done: ClaimBatch answers as Claim does, with errs nil when
	// Claim fails none.
	zero := []notify.ClaimRequest{{Key: key + "-zero-1", Owner: "n1"}, {Key: key + "-zero-2", Owner: "n2"}}
	results, errs := bd.ClaimBatch(done, zero)
	require.Len(t, results, len(zero))
	for i, c := range zero {
		claimed, holder, err := d.Claim(done, c.Key, c.Owner, 0)
		switch {
		case err != nil:
			assert.True(t, errs != nil && errs[i] != nil, "a claim with no ttl and a context done: Claim failed (%v), ClaimBatch did not", err)
		case errs != nil:
			t.Errorf("a claim with no ttl and a context done: Claim answered, ClaimBatch's errs is %v, not nil", errs)
		default:
			assert.Equal(t, notify.ClaimResult{Claimed: claimed, Holder: holder}, results[i], "a claim with no ttl and a context done")
		}
	}
}

// testDedupPrune checks a notify.Pruner deduper's Prune: it deletes the
// expired claims, only once they have expired, and keeps the live ones.
// It runs alone (not in parallel), so Prune's count is this test's own.
func testDedupPrune(t *testing.T, d notify.Deduper, key string) {
	p, ok := notify.As[notify.Pruner](d)
	if !ok {
		t.Skip("the deduper is not a notify.Pruner")
	}
	ctx := timeout(t, 30*time.Second)
	_, err := p.Prune(ctx) // what earlier tests left
	require.NoError(t, err, "Prune")

	const ttl = time.Second
	claimed := time.Now()
	for _, k := range []string{"short-1", "short-2"} {
		ok, _ := claim(t, d, key+"-"+k, "n1", ttl)
		require.True(t, ok)
	}
	ok, _ = claim(t, d, key+"-long", "n1", time.Hour)
	require.True(t, ok)
	n, err := p.Prune(ctx)
	require.NoError(t, err, "Prune")
	assert.Zero(t, n, "Prune deleted claims that have not expired")

	var total int64
	for total < 2 {
		require.True(t, time.Now().Before(claimed.Add(ttl+slack)), "Prune did not delete two claims %v after they expired (%d deleted)", slack, total)
		time.Sleep(100 * time.Millisecond)
		n, err := p.Prune(ctx)
		require.NoError(t, err, "Prune")
		if n > 0 && total == 0 {
			assert.GreaterOrEqual(t, time.Since(claimed), ttl-early, "Prune deleted a claim before its ttl passed")
		}
		total += n
	}
	assert.EqualValues(t, 2, total, "claims deleted by Prune: the two expired ones")

	ok, holder := claim(t, d, key+"-long", "n2", time.Hour)
	assert.False(t, ok, "a live claim was freed by Prune")
	assert.Equal(t, "n1", holder)
	ok, _ = claim(t, d, key+"-short-1", "n2", time.Hour)
	assert.True(t, ok, "an expired claim can be claimed after Prune")
}
