package notifytest

import (
	"context"
	"math"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gonotify/notify"
)

// testAllowBatch checks a notify.BatchLimiter's AllowBatch against Allow:
// the same events, asked with one AllowBatch on keys of their own and with
// one Allow each, in turn, on other keys, get the same decisions (events
// of one key within the batch count against each other) and the same
// errors, and leave the same counts behind, also for events with IDs
// (asked several times within the batch) and forced ones; with a context
// already done, the same events fail and none is counted.
func testAllowBatch(t *testing.T, l notify.Limiter, key string) {
	bl, ok := notify.As[notify.BatchLimiter](l)
	if !ok {
		t.Skip("the limiter is not a notify.BatchLimiter")
	}
	burst3 := notify.Limit{Rate: 3, Per: time.Hour}           // three at once, then one every 20 minutes
	burst2 := notify.Limit{Rate: 1, Per: time.Hour, Burst: 2} // two at once, then one an hour
	// A limit whose burst spans more time than a backend may count (the
	// Redis limiter refuses it); whatever Allow answers, AllowBatch must.
	vast := notify.Limit{Rate: 1, Per: 100 * 365 * 24 * time.Hour, Burst: math.MaxInt32}
	cases := []struct {
		key   string
		limit notify.Limit
		id    string
		force bool
	}{
		{"a", burst3, "", false}, {"b", burst2, "", false}, {"a", burst3, "", false}, {"a", burst3, "", false},
		{"a", burst3, "", false}, // the fourth of a burst of three: denied
		{"zero", notify.Limit{}, "", false},
		{"spent", burst2, "", false}, // spent before the batch
		{"vast", vast, "", false},
		{"b", burst2, "", false},
		{"b", burst2, "", false}, // the third of a burst of two: denied
		{"a", burst3, "", false},
		// One notification's deliveries: counted once within the batch.
		{"c", burst3, "n1", false}, {"c", burst3, "n1", false}, {"c", burst3, "n2", false},
		{"c", burst3, "n1", false}, {"c", burst3, "n3", false},
		{"c", burst3, "n4", false}, // the fourth notification: denied
		{"c", burst3, "n2", false}, // remembered: allowed
		{"c", burst3, "n4", true},  // forced over the limit
		{"c", burst3, "n4", false}, // remembered once forced
		{"spent", burst2, "n1", true},
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
		for _, k := range []string{batchKey("spent"), singleKey("spent")} {
			require.True(t, allow(t, l, k, burst2).Allowed)
			require.True(t, allow(t, l, k, burst2).Allowed)
		}

		start := time.Now()
		reqs := make([]notify.LimitRequest, len(cases))
		for i, c := range cases {
			reqs[i] = notify.LimitRequest{Key: batchKey(c.key), ID: c.id, Limit: c.limit, Force: c.force}
		}
		decisions, errs := bl.AllowBatch(round.ctx, reqs)
		require.Len(t, decisions, len(reqs), "%s: AllowBatch answers each request", round.name)
		if errs != nil {
			require.Len(t, errs, len(reqs), "%s: AllowBatch's errs is nil or has one error per request", round.name)
		}
		if errs != nil && !slices.ContainsFunc(errs, func(err error) bool { return err != nil }) {
			t.Errorf("%s: AllowBatch's errs must be nil when every request succeeded, not %v", round.name, errs)
		}
		singles := make([]notify.Decision, len(cases))
		serrs := make([]error, len(cases))
		for i, c := range cases {
			singles[i], serrs[i] = l.Allow(round.ctx, notify.LimitRequest{Key: singleKey(c.key), ID: c.id, Limit: c.limit, Force: c.force})
		}
		// Both runs' keys started counting as far apart as the runs: their
		// RetryAfters may differ by no more than the time both took.
		tolerance := time.Since(start) + 20*time.Millisecond
		for i, c := range cases {
			var berr error
			if errs != nil {
				berr = errs[i]
			}
			if (berr != nil) != (serrs[i] != nil) {
				t.Errorf("%s: request %d (%q, %+v): AllowBatch's error %v, Allow's %v", round.name, i, c.key, c.limit, berr, serrs[i])
				continue
			}
			if berr != nil {
				continue
			}
			b, s := decisions[i], singles[i]
			assert.Equal(t, s.Allowed, b.Allowed, "%s: request %d (%q): AllowBatch's Allowed differs from Allow's in turn", round.name, i, c.key)
			assert.Equal(t, s.Remaining, b.Remaining, "%s: request %d (%q): AllowBatch's Remaining differs from Allow's in turn", round.name, i, c.key)
			assert.InDelta(t, s.RetryAfter, b.RetryAfter, float64(tolerance), "%s: request %d (%q): AllowBatch's RetryAfter differs from Allow's in turn", round.name, i, c.key)
		}
		if round.ctx == ctx {
			for i, c := range cases {
				if c.key != "vast" && serrs[i] != nil {
					t.Errorf("live: Allow of request %d failed: %v", i, serrs[i])
				}
			}
		}

		// The counts left behind are the same: the next event of each key.
		for _, c := range []struct {
			key   string
			limit notify.Limit
		}{{"a", burst3}, {"b", burst2}, {"spent", burst2}, {"zero", notify.Limit{}}, {"c", burst3}} {
			b := allow(t, l, batchKey(c.key), c.limit)
			s := allow(t, l, singleKey(c.key), c.limit)
			assert.Equal(t, s.Allowed, b.Allowed, "%s: the next event of key %q after AllowBatch and after the single Allows", round.name, c.key)
			assert.Equal(t, s.Remaining, b.Remaining, "%s: Remaining of key %q after AllowBatch and after the single Allows", round.name, c.key)
		}
	}
}
