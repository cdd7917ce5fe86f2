package notifytest

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gonotify/notify"
)

// StoreFeatures tells TestStore what it cannot learn from the store
// itself.
type StoreFeatures struct {
	// Retention is how long the store keeps log events, for a store that
	// is a notify.Pruner: Prune must delete the events recorded with an At
	// older than Retention ago, and no other. Negative: Prune keeps every
	// event. A Pruner store must set it (the suite fails otherwise).
	Retention time.Duration
}

// testStorePrune checks a notify.Pruner store's Prune against
// StoreFeatures.Retention: it deletes the log events past the retention,
// counts them, and keeps every other event, also of a delivery that lost
// its older ones. It runs alone (not in parallel), so Prune's count is its
// own and no other subtest's events age out under it.
func testStorePrune(t *testing.T, s notify.Store, id string, retention time.Duration) {
	p, ok := notify.As[notify.Pruner](s)
	if !ok {
		t.Skip("the store is not a notify.Pruner")
	}
	require.NotZero(t, retention, "the store is a notify.Pruner: set StoreFeatures.Retention (negative: Prune keeps everything) so the suite can check Prune")
	ctx := timeout(t, 30*time.Second)
	_, err := p.Prune(ctx) // what earlier tests left past the retention
	require.NoError(t, err, "Prune")

	now := time.Now().Truncate(time.Microsecond)
	n := id + "-n"
	if retention < 0 {
		ancient := event(n, id+"-ancient", notify.StatusQueued, 0, now.Add(-100*365*24*time.Hour))
		require.NoError(t, s.Record(ctx, ancient))
		got, err := p.Prune(ctx)
		require.NoError(t, err, "Prune")
		assert.Zero(t, got, "Prune with a negative retention deleted events")
		ds, err := s.Delivery(ctx, ancient.DeliveryID)
		require.NoError(t, err, "a store that keeps every event lost one to Prune")
		assertEvents(t, []notify.Event{ancient}, ds.Events)
		return
	}

	margin := min(retention/4, time.Hour)
	past := now.Add(-retention - margin)   // past the retention
	within := now.Add(-retention + margin) // not yet
	old := []notify.Event{
		event(n, id+"-old", notify.StatusQueued, 0, past),
		event(n, id+"-old", notify.StatusSent, 1, past.Add(time.Second)),
		event(n, id+"-mixed", notify.StatusQueued, 0, past),
	}
	kept := map[string][]notify.Event{
		id + "-mixed":  {event(n, id+"-mixed", notify.StatusRetrying, 1, within)},
		id + "-within": {event(n, id+"-within", notify.StatusQueued, 0, within)},
		id + "-new":    {event(n, id+"-new", notify.StatusQueued, 0, now), event(n, id+"-new", notify.StatusSent, 1, now)},
	}
	require.NoError(t, s.Record(ctx, old...))
	for _, d := range []string{id + "-mixed", id + "-within", id + "-new"} {
		require.NoError(t, s.Record(ctx, kept[d]...))
	}

	got, err := p.Prune(ctx)
	require.NoError(t, err, "Prune")
	assert.EqualValues(t, len(old), got, "Prune's count: the events past the retention")
	_, err = s.Delivery(ctx, id+"-old")
	assert.ErrorIs(t, err, notify.ErrNotFound, "a delivery whose every event is past the retention, after Prune")
	for d, want := range kept {
		ds, err := s.Delivery(ctx, d)
		if assert.NoError(t, err, "delivery %s after Prune", d) {
			assertEvents(t, want, ds.Events)
		}
	}
	got, err = p.Prune(ctx)
	require.NoError(t, err, "Prune")
	assert.Zero(t, got, "a second Prune deleted events")
}

// testRecordOnceReadsAsRecord checks that what a notify.OnceRecorder's
// RecordOnce records reads back (State, Delivery) as the same event
// recorded with Record, and that a report it refuses records nothing.
func testRecordOnceReadsAsRecord(t *testing.T, s notify.Store, id string) {
	or, ok := notify.As[notify.OnceRecorder](s)
	if !ok {
		t.Skip("the store is not a notify.OnceRecorder")
	}
	ctx := timeout(t, 20*time.Second)
	n := id + "-n"
	var read [2]notify.DeliveryRecord
	var states [2]notify.DeliveryState
	for i, d := range []string{id + "-record", id + "-once"} {
		require.NoError(t, s.Record(ctx, event(n, d, notify.StatusQueued, 0, at(0)), event(n, d, notify.StatusSent, 1, at(time.Second))))
		report := event(n, d, notify.StatusFailed, 1, at(time.Minute))
		report.Reason, report.ProviderID = "bounced", "p-1"
		if i == 0 {
			require.NoError(t, s.Record(ctx, report))
		} else {
			ok, err := or.RecordOnce(ctx, report, "key", nil)
			require.NoError(t, err, "RecordOnce")
			require.True(t, ok, "RecordOnce of a new key")
			ok, err = or.RecordOnce(ctx, report, "key", func(context.Context, notify.Store) error {
				return errors.New("then must not run for a key already recorded")
			})
			require.NoError(t, err, "RecordOnce of a key already recorded")
			require.False(t, ok, "RecordOnce of a key already recorded")
		}
		var err error
		read[i], err = s.Delivery(ctx, d)
		require.NoError(t, err)
		states[i], err = s.State(ctx, d)
		require.NoError(t, err)
	}
	for j := range read[1].Events {
		read[1].Events[j].DeliveryID = read[0].DeliveryID
	}
	read[1].DeliveryID = read[0].DeliveryID
	assertStatus(t, read[0].Events, read[1])
	assertEvents(t, read[0].Events, read[1].Events)
	assert.Equal(t, states[0], states[1], "State after RecordOnce and after Record of the same event")
}
