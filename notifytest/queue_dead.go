package notifytest

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gonotify/notify"
)

// testDeadLister checks a notify.DeadLister: dead jobs listed newest first
// with attempts, reason and burial time; pages that join up to the whole
// list; the Reason, Since and Until filters; a replayed job no longer
// listed; and a malformed cursor refused.
func testDeadLister(t *testing.T, q notify.Queue, queue string) {
	dl, ok := notify.As[notify.DeadLister](q)
	if !ok {
		t.Skip("the queue is not a notify.DeadLister")
	}
	ctx := timeout(t, 60*time.Second)
	const n = 5
	var buried []time.Time // burial window of job i: [buried[2i], buried[2i+1]]
	for i := range n {
		id := fmt.Sprintf("dead-%d", i)
		require.NoError(t, q.Enqueue(ctx, testJob(queue, id)))
		ls := receiveN(t, q, queue, 1, 10*time.Second)
		buried = append(buried, time.Now())
		reason := "retries exhausted: 503"
		if i%2 == 1 {
			reason = "permanent: 400 bad token"
		}
		require.NoError(t, q.Bury(ctx, ls[0], reason))
		buried = append(buried, time.Now())
		time.Sleep(20 * time.Millisecond) // distinct burial times, even on a coarse clock
	}
	// One job stays live: it must not be listed.
	require.NoError(t, q.Enqueue(ctx, testJob(queue, "live")))

	list := func(dq notify.DeadQuery) []string {
		t.Helper()
		dq.Queue = queue
		var ids []string
		for pages := 0; ; pages++ {
			require.Less(t, pages, 20, "the listing does not end")
			p, err := dl.Dead(ctx, dq)
			require.NoError(t, err)
			require.LessOrEqual(t, len(p.Jobs), dq.PageLimit(), "a page larger than its Limit")
			for _, j := range p.Jobs {
				ids = append(ids, j.Job.ID)
			}
			if p.Next == "" {
				return ids
			}
			dq.Cursor = p.Next
		}
	}
	newestFirst := []string{"dead-4", "dead-3", "dead-2", "dead-1", "dead-0"}

	p, err := dl.Dead(ctx, notify.DeadQuery{Queue: queue})
	require.NoError(t, err)
	require.Len(t, p.Jobs, n, "every dead job, and no live one")
	assert.Empty(t, p.Next, "one page holds them all")
	for i, j := range p.Jobs {
		assert.Equal(t, newestFirst[i], j.Job.ID, "newest first")
		assert.Equal(t, queue, j.Job.Queue)
		assert.Equal(t, 1, j.Attempts, "attempts of %s", j.Job.ID)
		if assert.NotNil(t, j.Job.Delivery, "the delivery of %s", j.Job.ID) {
			assert.Equal(t, j.Job.ID, j.Job.Delivery.ID)
		}
		k := n - 1 - i
		assert.False(t, j.DiedAt.Before(buried[2*k].Add(-time.Second)) || j.DiedAt.After(buried[2*k+1].Add(time.Second)),
			"DiedAt of %s (%s) is not when it was buried (%s)", j.Job.ID, j.DiedAt, buried[2*k])
	}
	assert.Equal(t, "retries exhausted: 503", p.Jobs[0].Reason)
	assert.Equal(t, "permanent: 400 bad token", p.Jobs[1].Reason)

	assert.Equal(t, newestFirst, list(notify.DeadQuery{Limit: 2}), "pages of 2 join up")
	assert.Equal(t, newestFirst, list(notify.DeadQuery{Limit: 1}), "pages of 1 join up")
	assert.Equal(t, []string{"dead-3", "dead-1"}, list(notify.DeadQuery{Reason: "400"}), "Reason filter")
	assert.Equal(t, []string{"dead-3", "dead-1"}, list(notify.DeadQuery{Reason: "400", Limit: 1}), "Reason filter, paged")
	since, until := p.Jobs[3].DiedAt, p.Jobs[1].DiedAt // dead-1 and dead-3
	assert.Equal(t, []string{"dead-2", "dead-1"}, list(notify.DeadQuery{Since: since, Until: until}), "[Since, Until)")
	assert.Empty(t, list(notify.DeadQuery{Reason: "no such reason"}))

	require.NoError(t, q.Replay(ctx, queue, "dead-2"))
	assert.Equal(t, []string{"dead-4", "dead-3", "dead-1", "dead-0"}, list(notify.DeadQuery{Limit: 3}), "after a Replay")

	_, err = dl.Dead(ctx, notify.DeadQuery{Queue: queue, Cursor: "not a cursor"})
	var ve *notify.ValidationError
	assert.True(t, errors.As(err, &ve), "a malformed cursor is a *notify.ValidationError, got %v", err)

	other, err := dl.Dead(ctx, notify.DeadQuery{Queue: queue + "-other"})
	require.NoError(t, err)
	assert.Empty(t, other.Jobs, "another queue's dead jobs")
}
