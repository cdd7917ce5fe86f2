package notifytest

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gonotify/notify"
)

// extender returns q as a notify.LeaseExtender, or skips the test.
func extender(t *testing.T, q notify.Queue) notify.LeaseExtender {
	t.Helper()
	x, ok := notify.As[notify.LeaseExtender](q)
	if !ok {
		t.Skipf("%T is not a notify.LeaseExtender", q)
	}
	return x
}

// testLeaseDeadline checks Lease.Deadline on a first receipt: set (by a
// LeaseExtender; other queues may leave it zero), in the future, no later
// than the lease can last, and not much earlier.
func testLeaseDeadline(t *testing.T, q notify.Queue, queue string, vis time.Duration) {
	require.NoError(t, q.Enqueue(timeout(t, 10*time.Second), testJob(queue, "deadline")))
	before := time.Now() // the lease starts no sooner than the call
	l := receiveN(t, q, queue, 1, 10*time.Second)[0]
	after := time.Now() // and no later than its return
	if l.Deadline.IsZero() {
		if _, ok := notify.As[notify.LeaseExtender](q); ok {
			t.Fatal("a notify.LeaseExtender must set Lease.Deadline on Receive")
		}
		t.Skip("the queue does not set Lease.Deadline")
	}
	assert.True(t, l.Deadline.After(after), "Lease.Deadline %v is not in the future (Receive returned at %v)", l.Deadline, after)
	assert.False(t, l.Deadline.After(after.Add(vis)),
		"Lease.Deadline is %v after Receive returned, longer than the visibility timeout %v: the job may go to another receiver before it",
		l.Deadline.Sub(after), vis)
	assert.False(t, l.Deadline.Before(before.Add(vis-slack)),
		"Lease.Deadline leaves %v of a %v lease", l.Deadline.Sub(before), vis)
	require.NoError(t, q.Ack(timeout(t, 10*time.Second), l))
}

// testExtendKeepsLease checks that Extend pushes a held lease's deadline
// past the visibility timeout, that nobody else gets the job meanwhile, and
// that the lease can then be acked for good.
func testExtendKeepsLease(t *testing.T, q notify.Queue, queue string) {
	x := extender(t, q)
	ctx := timeout(t, 30*time.Second)
	require.NoError(t, q.Enqueue(ctx, testJob(queue, "extended")))
	l := receiveN(t, q, queue, 1, 10*time.Second)[0]
	require.False(t, l.Deadline.IsZero(), "a notify.LeaseExtender must set Lease.Deadline on Receive")

	const ext = 6 * time.Second // whole seconds: SQS rounds up to them
	before := time.Now()
	dl, err := x.Extend(ctx, l, ext)
	after := time.Now()
	require.NoError(t, err, "Extend of a held lease")
	assert.True(t, dl.After(l.Deadline), "Extend returned %v, not later than the lease's deadline %v", dl, l.Deadline)
	assert.False(t, dl.After(after.Add(ext)), "Extend returned a deadline %v after the call, more than asked (%v)", dl.Sub(after), ext)
	assert.True(t, dl.After(before.Add(ext/2)), "Extend returned a deadline %v after the call, far less than asked (%v)", dl.Sub(before), ext)

	// Past the original visibility timeout, short of the new deadline: the
	// job stays with its holder.
	window := time.Until(dl) - 1500*time.Millisecond
	require.Greater(t, window, time.Until(l.Deadline)+time.Second, "the machine is too slow for this test's timing")
	receiveNone(t, q, queue, window, "while an extended lease is held, past the visibility timeout")

	require.NoError(t, q.Ack(ctx, l), "Ack of an extended lease")
	_, err = x.Extend(ctx, l, ext)
	assert.ErrorIs(t, err, notify.ErrLeaseLost, "Extend of an acked lease")
	// Past the extended deadline: the acked job does not come back.
	receiveNone(t, q, queue, time.Until(dl)+time.Second, "after Ack of an extended lease, past its deadline")
}

// testExtendLostLease checks that a lease whose job was received again
// cannot be extended, and that the new lease is not disturbed.
func testExtendLostLease(t *testing.T, q notify.Queue, queue string) {
	x := extender(t, q)
	ctx := timeout(t, 30*time.Second)
	require.NoError(t, q.Enqueue(ctx, testJob(queue, "lost")))
	first := receiveN(t, q, queue, 1, 10*time.Second)[0]
	second := receiveN(t, q, queue, 1, time.Second+slack)[0]
	require.Equal(t, 2, second.Attempt, "redelivery after lease expiry")
	assert.True(t, second.Deadline.After(first.Deadline), "a redelivery's Lease.Deadline (%v) must be later than the expired lease's (%v)", second.Deadline, first.Deadline)

	_, err := x.Extend(ctx, first, 5*time.Second)
	assert.ErrorIs(t, err, notify.ErrLeaseLost, "Extend of a lease whose job was received again")

	dl, err := x.Extend(ctx, second, 5*time.Second)
	require.NoError(t, err, "Extend of the current lease, after a stale Extend")
	assert.True(t, dl.After(time.Now()), "Extend returned a deadline in the past")
	require.NoError(t, q.Ack(ctx, second), "Ack of the current lease after Extend")
	st, err := q.Stats(ctx, queue)
	require.NoError(t, err)
	assert.Equal(t, notify.QueueStats{}, zeroAge(st), "Stats after Ack")
}

// testExtendSettledLease checks that acked, nacked and buried leases cannot
// be extended, and that trying does not revive them.
func testExtendSettledLease(t *testing.T, q notify.Queue, queue string) {
	x := extender(t, q)
	ctx := timeout(t, 20*time.Second)
	require.NoError(t, q.Enqueue(ctx, testJob(queue, "acked"), testJob(queue, "nacked"), testJob(queue, "buried")))
	byID := map[string]notify.Lease{}
	for _, l := range receiveN(t, q, queue, 3, 10*time.Second) {
		byID[l.Job.ID] = l
	}
	require.Len(t, byID, 3)
	require.NoError(t, q.Ack(ctx, byID["acked"]))
	require.NoError(t, q.Nack(ctx, byID["nacked"], time.Minute))
	require.NoError(t, q.Bury(ctx, byID["buried"], "test"))
	for _, id := range []string{"acked", "nacked", "buried"} {
		_, err := x.Extend(ctx, byID[id], 10*time.Second)
		assert.ErrorIs(t, err, notify.ErrLeaseLost, "Extend of a lease that was %s", id)
	}
	st, err := q.Stats(ctx, queue)
	require.NoError(t, err)
	assert.Equal(t, notify.QueueStats{Delayed: 1, Dead: 1}, zeroAge(st), "Stats after Extend of settled leases")
	receiveNone(t, q, queue, 300*time.Millisecond, "after Extend of settled leases")
}
