package notifytest

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/gonotify/notify"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// QueueConfig is what TestQueue asks of the queue it gets from newQueue.
type QueueConfig struct {
	// Visibility is the lease (visibility timeout) the backend must use: a
	// received job that is not acked, nacked or buried within it is handed
	// out again. The suite uses whole seconds, at least one.
	Visibility time.Duration
}

// QueueFeatures tells TestQueue what it cannot learn from the queue
// itself: what the backend cannot guarantee, so the suite checks the weaker
// promise instead (as Watermill's test Features do), and what a capability
// needs to be checked. The zero value claims the whole contract.
type QueueFeatures struct {
	// NoCrossCallDedup: an ID enqueued again by a later Enqueue call may be
	// queued twice (SQS standard queues have no deduplication). Repeats
	// within one call must still collapse. The Dispatcher never enqueues a
	// delivery ID twice, so this only weakens replays of a failed Send.
	NoCrossCallDedup bool
	// EventLog returns, for a queue that is a notify.EventLogQueue, an
	// EventLog that the queues newQueue returns write to in their own
	// statements (for the postgres package, a Store of the same schema).
	// Such a queue must set it (the suite fails otherwise).
	EventLog func(t *testing.T) notify.EventLog
}

// early is how much sooner than due a hidden job may show up without failing
// a check: clocks and timers of real backends are not exact.
const early = 150 * time.Millisecond

// slack bounds how long after due a job may take to show up.
const slack = 5 * time.Second

// TestQueue runs the conformance suite for a notify.Queue. newQueue returns a
// fresh, open queue for one subtest that uses cfg.Visibility as its lease;
// it should register its own cleanup (t.Cleanup) that closes it. Each call
// must return a Queue value of its own (it may share the server): the Close
// subtest closes it, and a second Close must not panic. The subtests run in
// parallel, each on queue names of its own.
//
// It checks at-least-once delivery; that the Delivery survives the trip;
// that an expired lease redelivers with Attempt incremented; that Ack is
// final and a lease no longer held makes Ack, Nack and Bury return
// ErrLeaseLost; that Nack with a delay hides the job until due and not
// before; that NotBefore is respected; that an ID already present is not
// enqueued twice; Bury, Stats.Dead and Replay; Stats by state; that
// concurrent receivers get disjoint jobs; that Receive blocks until a job is
// ready and returns the context's error; and Close.
//
// Each optional capability the queue has is found with notify.As (so a
// wrapper with Unwrap is checked too) and checked against the calls it
// stands for; queues without it skip those subtests. For a
// notify.LeaseExtender, the suite also checks that Receive sets Lease.Deadline, in the future and no later
// than the visibility timeout allows; that Extend of a held lease pushes its
// deadline and keeps the job from other receivers past the visibility
// timeout, after which Ack works and is final; and that Extend of a lease
// that was acked, nacked, buried or received again returns ErrLeaseLost.
// For a notify.VisibilityReporter, that it reports the visibility timeout it
// was given. For a notify.EventLogQueue (which needs QueueFeatures.EventLog),
// that EnqueueLogged leaves the same jobs and log as Record then Enqueue,
// also with repeated and already queued job IDs, fails when either would and
// then writes nothing; that AckLogged records and acks as Record then Ack
// do, also for a lease no longer held (ErrLeaseLost, the event recorded);
// and that both refuse an EventLog they cannot write to with
// errors.ErrUnsupported, writing nothing. A queue declared with
// NoCrossCallDedup must be a notify.RepeatEnqueuer that says so. For a
// notify.DeadLister, that dead jobs are listed newest first with attempts,
// reason and burial time, that pages join up, that the Reason, Since and
// Until filters select, and that a replayed job is no longer listed. For
// a notify.Canceler, that Cancel removes ready and delayed jobs that hold
// no lease and returns their IDs, leaves leased, dead and unknown ones as
// they are, and one whose lease ran out unsettled until it is Nacked,
// removes nothing twice, and never lets a job be both received and
// canceled while receivers race it. For a
// notify.EventLogCanceler (which needs QueueFeatures.EventLog), that
// CancelLogged removes and logs as Cancel then Record of the removed jobs'
// events do, and refuses an EventLog it cannot write to, removing nothing.
//
// features, when given, declares the contract's parts the backend does not
// keep (see QueueFeatures); at most one.
func TestQueue(t *testing.T, newQueue func(t *testing.T, cfg QueueConfig) notify.Queue, features ...QueueFeatures) {
	var f QueueFeatures
	if len(features) > 0 {
		f = features[0]
	}
	long := QueueConfig{Visibility: 30 * time.Second} // no lease expires during the subtest
	short := QueueConfig{Visibility: 1 * time.Second} // leases expire quickly
	// AckIsFinal's lease outlasts a batching backend's delayed delete on a
	// loaded machine, and still expires within the subtest.
	ackFinal := QueueConfig{Visibility: 2 * time.Second}

	run := func(name string, cfg QueueConfig, f func(t *testing.T, q notify.Queue, queue string)) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			q := newQueue(t, cfg)
			require.NotNil(t, q, "newQueue returned nil")
			f(t, q, UniqueName(t))
		})
	}

	run("EnqueueReceiveAck", long, testEnqueueReceiveAck)
	run("QueuesAreSeparate", long, testQueuesAreSeparate)
	run("ReceiveMax", long, testReceiveMax)
	run("AckIsFinal", ackFinal, testAckIsFinal)
	run("AckKeepsNoArgument", long, testAckKeepsNoArgument)
	run("LeaseExpiryRedelivers", short, testLeaseExpiry)
	run("NackDelayHides", long, testNackDelay)
	run("NackCountsAttempts", long, testNackAttempts)
	run("NotBefore", long, testNotBefore)
	if f.NoCrossCallDedup {
		run("DuplicateEnqueueOneCall", long, testDuplicateEnqueueOneCall)
	} else {
		run("DuplicateEnqueue", long, testDuplicateEnqueue)
	}
	run("BuryReplay", long, testBuryReplay)
	run("Stats", long, testStats)
	run("ConcurrentReceivers", long, testConcurrentReceivers)
	run("ReceiveBlocks", long, testReceiveBlocks)
	run("ReceiveCanceled", long, testReceiveCanceled)
	run("Close", long, testClose)
	run("LeaseDeadline", long, func(t *testing.T, q notify.Queue, queue string) {
		testLeaseDeadline(t, q, queue, long.Visibility)
	})
	run("ExtendKeepsLease", short, testExtendKeepsLease)
	run("ExtendLostLease", short, testExtendLostLease)
	run("ExtendSettledLease", long, testExtendSettledLease)
	run("Visibility", short, func(t *testing.T, q notify.Queue, _ string) { testVisibility(t, q, short) })
	run("RepeatEnqueuer", long, func(t *testing.T, q notify.Queue, _ string) { testRepeatEnqueuer(t, q, f) })
	run("EnqueueLogged", long, func(t *testing.T, q notify.Queue, queue string) { testEnqueueLogged(t, q, queue, f) })
	run("AckLogged", long, func(t *testing.T, q notify.Queue, queue string) { testAckLogged(t, q, queue, f) })
	run("DeadLister", long, testDeadLister)
	run("Cancel", long, testCancel)
	run("CancelLapsedLease", short, testCancelLapsedLease)
	run("CancelRace", long, testCancelRace)
	run("CancelLogged", long, func(t *testing.T, q notify.Queue, queue string) { testCancelLogged(t, q, queue, f) })
}

// timeout returns a context that ends after d and is canceled with the test.
func timeout(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// testDelivery returns a delivery with every field a queue must carry set.
func testDelivery(id string) *notify.Delivery {
	return &notify.Delivery{
		ID:             id,
		NotificationID: "n-" + id,
		EventID:        "e-" + id,
		UserID:         "u-" + id,
		Category:       "chat",
		Channel:        "sms",
		Address:        "+15550100",
		Locale:         "pt-BR",
		TimeZone:       "America/Sao_Paulo",
		QuietHours:     &notify.QuietHours{Start: notify.ClockAt(22, 0), End: notify.ClockAt(7, 0)},
		Template:       "welcome",
		Data:           map[string]any{"name": "Ana"},
		Message:        notify.Message{Title: "Hi", Body: "Hello, " + id, Data: map[string]string{"k": "v"}},
		Priority:       notify.PriorityHigh,
		Critical:       true,
		CreatedAt:      time.Date(2026, 1, 2, 3, 4, 5, 6000, time.UTC),
		ExpiresAt:      time.Date(2036, 1, 2, 3, 4, 5, 0, time.UTC),
		Metadata:       map[string]string{"tenant": "t1"},
		Options:        []byte(`{"sound":"ping"}`),
	}
}

func testJob(queue, id string) notify.Job {
	return notify.Job{ID: id, Queue: queue, Delivery: testDelivery(id)}
}

func testJobs(queue, prefix string, n int) []notify.Job {
	jobs := make([]notify.Job, n)
	for i := range jobs {
		jobs[i] = testJob(queue, fmt.Sprintf("%s-%d", prefix, i))
	}
	return jobs
}

// assertDelivery checks that got carries want's content.
func assertDelivery(t *testing.T, want, got *notify.Delivery) {
	t.Helper()
	if !assert.NotNil(t, got, "lease has no Delivery") {
		return
	}
	assert.Equal(t, want.ID, got.ID, "Delivery.ID")
	assert.Equal(t, want.NotificationID, got.NotificationID, "Delivery.NotificationID")
	assert.Equal(t, want.EventID, got.EventID, "Delivery.EventID")
	assert.Equal(t, want.UserID, got.UserID, "Delivery.UserID")
	assert.Equal(t, want.Category, got.Category, "Delivery.Category")
	assert.Equal(t, want.Channel, got.Channel, "Delivery.Channel")
	assert.Equal(t, want.Address, got.Address, "Delivery.Address")
	assert.Equal(t, want.Locale, got.Locale, "Delivery.Locale")
	assert.Equal(t, want.TimeZone, got.TimeZone, "Delivery.TimeZone")
	assert.Equal(t, want.QuietHours, got.QuietHours, "Delivery.QuietHours")
	assert.Equal(t, want.Template, got.Template, "Delivery.Template")
	assert.Equal(t, want.Data, got.Data, "Delivery.Data")
	assert.Equal(t, want.Message, got.Message, "Delivery.Message")
	assert.Equal(t, want.Priority, got.Priority, "Delivery.Priority")
	assert.Equal(t, want.Critical, got.Critical, "Delivery.Critical")
	assert.True(t, want.CreatedAt.Equal(got.CreatedAt), "Delivery.CreatedAt: want %v, got %v", want.CreatedAt, got.CreatedAt)
	assert.True(t, want.ExpiresAt.Equal(got.ExpiresAt), "Delivery.ExpiresAt: want %v, got %v", want.ExpiresAt, got.ExpiresAt)
	assert.Equal(t, want.Metadata, got.Metadata, "Delivery.Metadata")
	if len(want.Options) > 0 {
		assert.JSONEq(t, string(want.Options), string(got.Options), "Delivery.Options")
	}
}

// receiveN receives from queue until it holds n leases, failing the test if
// they do not all arrive within within.
func receiveN(t *testing.T, q notify.Queue, queue string, n int, within time.Duration) []notify.Lease {
	t.Helper()
	ctx := timeout(t, within)
	var out []notify.Lease
	for len(out) < n {
		ls, err := q.Receive(ctx, queue, n-len(out))
		require.NoError(t, err, "Receive: got %d of %d leases", len(out), n)
		require.LessOrEqual(t, len(ls), n-len(out), "Receive returned more leases than max")
		out = append(out, ls...)
	}
	return out
}

// receiveNone checks that nothing is ready on queue for d: Receive must block
// and then return the context's error.
func receiveNone(t *testing.T, q notify.Queue, queue string, d time.Duration, msg string) {
	t.Helper()
	ls, err := q.Receive(timeout(t, d), queue, 10)
	assert.Empty(t, ls, "%s: Receive returned a job", msg)
	assert.ErrorIs(t, err, context.DeadlineExceeded, "%s: Receive on an empty queue must block until ctx is done and return its error", msg)
}

func ids(ls []notify.Lease) []string {
	out := make([]string, len(ls))
	for i, l := range ls {
		out[i] = l.Job.ID
	}
	return out
}

func testEnqueueReceiveAck(t *testing.T, q notify.Queue, queue string) {
	ctx := timeout(t, 20*time.Second)
	jobs := testJobs(queue, "a", 3)
	require.NoError(t, q.Enqueue(ctx, jobs...))

	ls := receiveN(t, q, queue, 3, 10*time.Second)
	byID := map[string]notify.Lease{}
	for _, l := range ls {
		_, dup := byID[l.Job.ID]
		assert.False(t, dup, "job %s handed out twice while leased", l.Job.ID)
		byID[l.Job.ID] = l
	}
	for _, j := range jobs {
		l, ok := byID[j.ID]
		if !assert.True(t, ok, "job %s was enqueued but not received", j.ID) {
			continue
		}
		assert.Equal(t, 1, l.Attempt, "first receipt of %s must have Attempt 1", j.ID)
		assert.Equal(t, queue, l.Job.Queue, "Lease.Job.Queue")
		assertDelivery(t, j.Delivery, l.Job.Delivery)
	}
	require.NoError(t, q.Ack(ctx, ls...), "Ack of held leases")

	st, err := q.Stats(ctx, queue)
	require.NoError(t, err)
	assert.Equal(t, notify.QueueStats{}, zeroAge(st), "Stats after every job was acked")
	receiveNone(t, q, queue, 300*time.Millisecond, "after Ack")
}

func zeroAge(st notify.QueueStats) notify.QueueStats {
	st.OldestReady = 0
	return st
}

func testQueuesAreSeparate(t *testing.T, q notify.Queue, queue string) {
	ctx := timeout(t, 20*time.Second)
	other := queue + "-other"
	require.NoError(t, q.Enqueue(ctx, testJob(queue, "mine"), testJob(other, "theirs")))
	ls := receiveN(t, q, other, 1, 10*time.Second)
	assert.Equal(t, "theirs", ls[0].Job.ID, "Receive(other) returned another queue's job")
	assert.Equal(t, other, ls[0].Job.Queue)
	receiveNone(t, q, other, 300*time.Millisecond, "other queue after its only job was leased")
	ls = receiveN(t, q, queue, 1, 10*time.Second)
	assert.Equal(t, "mine", ls[0].Job.ID)

	st, err := q.Stats(ctx, queue+"-never-used")
	require.NoError(t, err, "Stats of a queue never used")
	assert.Equal(t, notify.QueueStats{}, zeroAge(st), "Stats of a queue never used")
}

func testReceiveMax(t *testing.T, q notify.Queue, queue string) {
	ctx := timeout(t, 20*time.Second)
	require.NoError(t, q.Enqueue(ctx, testJobs(queue, "m", 5)...))
	ls, err := q.Receive(ctx, queue, 2)
	require.NoError(t, err)
	assert.NotEmpty(t, ls, "Receive with jobs ready returned none")
	assert.LessOrEqual(t, len(ls), 2, "Receive returned more than max")
	rest := receiveN(t, q, queue, 5-len(ls), 10*time.Second)
	seen := map[string]bool{}
	for _, id := range append(ids(ls), ids(rest)...) {
		assert.False(t, seen[id], "job %s handed out twice", id)
		seen[id] = true
	}
	assert.Len(t, seen, 5)
}

func testAckIsFinal(t *testing.T, q notify.Queue, queue string) {
	ctx := timeout(t, 20*time.Second)
	require.NoError(t, q.Enqueue(ctx, testJob(queue, "final")))
	l := receiveN(t, q, queue, 1, 10*time.Second)[0]
	require.NoError(t, q.Ack(ctx, l))

	// The lease would have expired by now: an acked job must not come back.
	receiveNone(t, q, queue, 3*time.Second, "after Ack, past the visibility timeout")

	assert.ErrorIs(t, q.Ack(ctx, l), notify.ErrLeaseLost, "second Ack of one lease")
	assert.ErrorIs(t, q.Nack(ctx, l, 0), notify.ErrLeaseLost, "Nack of an acked lease")
	assert.ErrorIs(t, q.Bury(ctx, l, "test"), notify.ErrLeaseLost, "Bury of an acked lease")
	receiveNone(t, q, queue, 300*time.Millisecond, "after Nack of an acked lease")
	st, err := q.Stats(ctx, queue)
	require.NoError(t, err)
	assert.Equal(t, notify.QueueStats{}, zeroAge(st), "Stats after Ack")
}

// testAckKeepsNoArgument checks that Ack keeps no argument once it has
// returned, even when its ctx ends first (a combined statement may still
// run then): each acker reuses one slice, acks the first lease of a pair
// in it and writes the second lease over it as soon as Ack returns. The
// second lease of every pair must still be held.
func testAckKeepsNoArgument(t *testing.T, q notify.Queue, queue string) {
	const ackers, pairs = 16, 10
	ctx := timeout(t, 20*time.Second)
	require.NoError(t, q.Enqueue(ctx, testJobs(queue, "pair", 2*ackers*pairs)...))
	leases := receiveN(t, q, queue, 2*ackers*pairs, 10*time.Second)
	var wg sync.WaitGroup
	for a := range ackers {
		wg.Go(func() {
			var buf [1]notify.Lease
			for i := range pairs {
				k := 2 * (a*pairs + i)
				buf[0] = leases[k]
				// Some calls' contexts end before their ack is done.
				cctx, cancel := context.WithTimeout(ctx, time.Duration(i%8)*100*time.Microsecond)
				_ = q.Ack(cctx, buf[:]...)
				cancel()
				buf[0] = leases[k+1]
			}
		})
	}
	wg.Wait()
	// An ack whose caller stopped waiting may still be running: give it
	// time to land before looking.
	time.Sleep(200 * time.Millisecond)
	for k := 1; k < len(leases); k += 2 {
		assert.NoError(t, q.Ack(ctx, leases[k]), "lease %s, written over a slice after Ack returned, was acked", leases[k].Job.ID)
	}
}

func testLeaseExpiry(t *testing.T, q notify.Queue, queue string) {
	ctx := timeout(t, 20*time.Second)
	want := testJob(queue, "expiring")
	require.NoError(t, q.Enqueue(ctx, want))
	leased := time.Now() // the lease starts no sooner than the call
	first := receiveN(t, q, queue, 1, 10*time.Second)[0]
	require.Equal(t, 1, first.Attempt)

	second := receiveN(t, q, queue, 1, time.Second+slack)[0]
	elapsed := time.Since(leased)
	assert.GreaterOrEqual(t, elapsed, time.Second-early, "job redelivered before its lease expired")
	assert.Equal(t, "expiring", second.Job.ID)
	assert.Equal(t, 2, second.Attempt, "redelivery after lease expiry must count an attempt")
	assertDelivery(t, want.Delivery, second.Job.Delivery)

	// The first lease is no longer held.
	assert.ErrorIs(t, q.Ack(ctx, first), notify.ErrLeaseLost, "Ack of an expired lease")
	assert.ErrorIs(t, q.Nack(ctx, first, 0), notify.ErrLeaseLost, "Nack of an expired lease")
	assert.ErrorIs(t, q.Bury(ctx, first, "stale"), notify.ErrLeaseLost, "Bury of an expired lease")

	// The stale calls must not have touched the current lease.
	st, err := q.Stats(ctx, queue)
	require.NoError(t, err)
	assert.Equal(t, notify.QueueStats{InFlight: 1}, zeroAge(st), "Stats after stale Ack/Nack/Bury")
	require.NoError(t, q.Ack(ctx, second), "Ack of the current lease")
	st, err = q.Stats(ctx, queue)
	require.NoError(t, err)
	assert.Equal(t, notify.QueueStats{}, zeroAge(st), "Stats after Ack")
}

func testNackDelay(t *testing.T, q notify.Queue, queue string) {
	ctx := timeout(t, 20*time.Second)
	require.NoError(t, q.Enqueue(ctx, testJob(queue, "nacked")))
	l := receiveN(t, q, queue, 1, 10*time.Second)[0]
	const delay = time.Second
	nacked := time.Now() // the delay starts no sooner than the call
	require.NoError(t, q.Nack(ctx, l, delay))

	again := receiveN(t, q, queue, 1, delay+slack)[0]
	assert.GreaterOrEqual(t, time.Since(nacked), delay-early, "a job nacked with a delay was handed out before its delay")
	assert.Equal(t, "nacked", again.Job.ID)
	assert.Equal(t, 2, again.Attempt)
	assert.ErrorIs(t, q.Ack(ctx, l), notify.ErrLeaseLost, "Ack of a nacked lease")
	require.NoError(t, q.Ack(ctx, again))
}

func testNackAttempts(t *testing.T, q notify.Queue, queue string) {
	ctx := timeout(t, 20*time.Second)
	want := testJob(queue, "counted")
	require.NoError(t, q.Enqueue(ctx, want))
	for attempt := 1; attempt <= 3; attempt++ {
		l := receiveN(t, q, queue, 1, 5*time.Second)[0]
		assert.Equal(t, attempt, l.Attempt, "Attempt after %d nacks", attempt-1)
		assertDelivery(t, want.Delivery, l.Job.Delivery)
		if attempt < 3 {
			require.NoError(t, q.Nack(ctx, l, 0), "Nack with no delay")
		} else {
			require.NoError(t, q.Ack(ctx, l))
		}
	}
}

func testNotBefore(t *testing.T, q notify.Queue, queue string) {
	ctx := timeout(t, 20*time.Second)
	due := time.Now().Add(2 * time.Second)
	later := testJob(queue, "later")
	later.NotBefore = due
	past := testJob(queue, "past")
	past.NotBefore = time.Now().Add(-time.Hour)
	require.NoError(t, q.Enqueue(ctx, later))
	require.NoError(t, q.Enqueue(ctx, past, testJob(queue, "now")))
	enqueued := time.Now()

	got := map[string]time.Time{}
	var ls []notify.Lease
	for len(ls) < 3 {
		l := receiveN(t, q, queue, 1, time.Until(due)+slack)[0]
		got[l.Job.ID] = time.Now()
		ls = append(ls, l)
		assert.Equal(t, 1, l.Attempt, "waiting for NotBefore is not an attempt")
	}
	require.Len(t, got, 3, "each job once: %v", ids(ls))
	assert.False(t, got["later"].Before(due.Add(-early)), "a job was handed out %v before its NotBefore", due.Sub(got["later"]))
	if enqueued.Add(500 * time.Millisecond).Before(due) {
		// The ready jobs are not held back by the delayed one.
		assert.True(t, got["past"].Before(due), "a job with NotBefore in the past waited for a later job")
		assert.True(t, got["now"].Before(due), "a ready job waited for a later job")
	}
	require.NoError(t, q.Ack(ctx, ls...))
}

func testDuplicateEnqueue(t *testing.T, q notify.Queue, queue string) {
	ctx := timeout(t, 20*time.Second)
	// Twice in one call and again in another: one job.
	require.NoError(t, q.Enqueue(ctx, testJob(queue, "dup"), testJob(queue, "dup")))
	require.NoError(t, q.Enqueue(ctx, testJob(queue, "dup")))
	st, err := q.Stats(ctx, queue)
	require.NoError(t, err)
	assert.Equal(t, 1, st.Ready, "an ID enqueued three times must be one ready job")

	l := receiveN(t, q, queue, 1, 5*time.Second)[0]
	// Enqueue while leased is a no-op too.
	require.NoError(t, q.Enqueue(ctx, testJob(queue, "dup")))
	receiveNone(t, q, queue, 300*time.Millisecond, "re-enqueue of a leased ID")

	// And while dead.
	require.NoError(t, q.Bury(ctx, l, "test"))
	require.NoError(t, q.Enqueue(ctx, testJob(queue, "dup")))
	receiveNone(t, q, queue, 300*time.Millisecond, "re-enqueue of a dead ID")
	st, err = q.Stats(ctx, queue)
	require.NoError(t, err)
	assert.Equal(t, notify.QueueStats{Dead: 1}, zeroAge(st), "Stats after re-enqueue of a dead ID")
}

// testDuplicateEnqueueOneCall is testDuplicateEnqueue's promise for
// backends with NoCrossCallDedup: repeats within one call are one job.
func testDuplicateEnqueueOneCall(t *testing.T, q notify.Queue, queue string) {
	ctx := timeout(t, 20*time.Second)
	require.NoError(t, q.Enqueue(ctx, testJob(queue, "dup"), testJob(queue, "other"), testJob(queue, "dup")))
	ls := receiveN(t, q, queue, 2, 5*time.Second)
	assert.ElementsMatch(t, []string{"dup", "other"}, []string{ls[0].Job.ID, ls[1].Job.ID})
	receiveNone(t, q, queue, 300*time.Millisecond, "a repeat within one Enqueue call")
	require.NoError(t, q.Ack(ctx, ls...))
}

func testBuryReplay(t *testing.T, q notify.Queue, queue string) {
	ctx := timeout(t, 20*time.Second)
	want := testJob(queue, "buried")
	require.NoError(t, q.Enqueue(ctx, want))
	l := receiveN(t, q, queue, 1, 5*time.Second)[0]
	require.NoError(t, q.Nack(ctx, l, 0))
	l = receiveN(t, q, queue, 1, 5*time.Second)[0]
	require.Equal(t, 2, l.Attempt)
	require.NoError(t, q.Bury(ctx, l, "retries exhausted"))

	st, err := q.Stats(ctx, queue)
	require.NoError(t, err)
	assert.Equal(t, notify.QueueStats{Dead: 1}, zeroAge(st), "Stats after Bury")
	receiveNone(t, q, queue, 300*time.Millisecond, "after Bury")
	assert.ErrorIs(t, q.Ack(ctx, l), notify.ErrLeaseLost, "Ack of a buried lease")
	assert.ErrorIs(t, q.Bury(ctx, l, "again"), notify.ErrLeaseLost, "Bury of a buried lease")

	assert.ErrorIs(t, q.Replay(ctx, queue, "no-such-job"), notify.ErrNotFound, "Replay of an unknown ID")
	assert.ErrorIs(t, q.Replay(ctx, queue+"-other", "buried"), notify.ErrNotFound, "Replay on the wrong queue")
	require.NoError(t, q.Replay(ctx, queue, "buried"))
	st, err = q.Stats(ctx, queue)
	require.NoError(t, err)
	assert.Equal(t, notify.QueueStats{Ready: 1}, zeroAge(st), "Stats after Replay")
	assert.ErrorIs(t, q.Replay(ctx, queue, "buried"), notify.ErrNotFound, "Replay of a job that is no longer dead")

	r := receiveN(t, q, queue, 1, 5*time.Second)[0]
	assert.Equal(t, "buried", r.Job.ID)
	assert.Equal(t, 1, r.Attempt, "Replay must reset the receive count")
	assertDelivery(t, want.Delivery, r.Job.Delivery)
	require.NoError(t, q.Ack(ctx, r))
}

func testStats(t *testing.T, q notify.Queue, queue string) {
	ctx := timeout(t, 20*time.Second)
	require.NoError(t, q.Enqueue(ctx, testJobs(queue, "r", 5)...))
	for _, id := range []string{"d1", "d2"} {
		j := testJob(queue, id)
		j.NotBefore = time.Now().Add(time.Minute)
		require.NoError(t, q.Enqueue(ctx, j))
	}
	ls := receiveN(t, q, queue, 3, 5*time.Second)
	require.NoError(t, q.Bury(ctx, ls[0], "test"))
	require.NoError(t, q.Nack(ctx, ls[1], time.Minute))
	// ls[2] stays in flight.

	st, err := q.Stats(ctx, queue)
	require.NoError(t, err)
	assert.Equal(t, 2, st.Ready, "Stats.Ready")
	assert.Equal(t, 3, st.Delayed, "Stats.Delayed: two NotBefore jobs and one nacked with a delay")
	assert.Equal(t, 1, st.InFlight, "Stats.InFlight")
	assert.Equal(t, 1, st.Dead, "Stats.Dead")
	assert.GreaterOrEqual(t, st.OldestReady, time.Duration(0), "Stats.OldestReady")

	// Lease expiry is not in play (long visibility); acking the in-flight job
	// and receiving the two ready ones empties those states.
	require.NoError(t, q.Ack(ctx, ls[2]))
	more := receiveN(t, q, queue, 2, 5*time.Second)
	require.NoError(t, q.Ack(ctx, more...))
	st, err = q.Stats(ctx, queue)
	require.NoError(t, err)
	assert.Equal(t, notify.QueueStats{Delayed: 3, Dead: 1}, zeroAge(st), "Stats after acking")
}

func testConcurrentReceivers(t *testing.T, q notify.Queue, queue string) {
	const n, receivers = 200, 8
	ctx := timeout(t, 30*time.Second)
	jobs := testJobs(queue, "c", n)
	for i := 0; i < n; i += 20 {
		require.NoError(t, q.Enqueue(ctx, jobs[i:i+20]...))
	}

	var (
		mu    sync.Mutex
		count = map[string]int{}
		acked int
		done  = make(chan struct{})
	)
	rctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	errs := make(chan error, receivers)
	for range receivers {
		wg.Go(func() {
			for {
				ls, err := q.Receive(rctx, queue, 5)
				if err != nil {
					if rctx.Err() == nil {
						errs <- fmt.Errorf("receive: %w", err)
					}
					return
				}
				mu.Lock()
				for _, l := range ls {
					count[l.Job.ID]++
				}
				mu.Unlock()
				if err := q.Ack(rctx, ls...); err != nil {
					errs <- fmt.Errorf("ack: %w", err)
					return
				}
				mu.Lock()
				acked += len(ls)
				if acked >= n {
					select {
					case <-done:
					default:
						close(done)
					}
				}
				mu.Unlock()
			}
		})
	}
	select {
	case <-done:
	case err := <-errs:
		t.Errorf("receiver failed: %v", err)
	case <-ctx.Done():
		t.Errorf("receivers did not get every job in time")
	}
	// Give a receiver that wrongly got a job twice the chance to show it.
	time.Sleep(200 * time.Millisecond)
	cancel()
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("receiver failed: %v", err)
	}

	mu.Lock()
	defer mu.Unlock()
	assert.Len(t, count, n, "every job must be received")
	for id, c := range count {
		assert.Equal(t, 1, c, "job %s received %d times by concurrent receivers", id, c)
	}
	st, err := q.Stats(ctx, queue)
	require.NoError(t, err)
	assert.Equal(t, notify.QueueStats{}, zeroAge(st), "Stats after every job was acked")
}

func testReceiveBlocks(t *testing.T, q notify.Queue, queue string) {
	ctx := timeout(t, 20*time.Second)
	type result struct {
		ls  []notify.Lease
		err error
	}
	got := make(chan result, 1)
	go func() {
		ls, err := q.Receive(ctx, queue, 10)
		got <- result{ls, err}
	}()
	select {
	case r := <-got:
		t.Fatalf("Receive on an empty queue returned at once: %d leases, error %v", len(r.ls), r.err)
	case <-time.After(300 * time.Millisecond):
	}
	require.NoError(t, q.Enqueue(ctx, testJob(queue, "wake")))
	select {
	case r := <-got:
		require.NoError(t, r.err)
		require.Len(t, r.ls, 1)
		assert.Equal(t, "wake", r.ls[0].Job.ID)
		require.NoError(t, q.Ack(ctx, r.ls...))
	case <-time.After(slack):
		t.Fatal("a blocked Receive did not return the job enqueued after it started")
	}
}

func testReceiveCanceled(t *testing.T, q notify.Queue, queue string) {
	ctx, cancel := context.WithCancel(context.Background())
	got := make(chan error, 1)
	go func() {
		ls, err := q.Receive(ctx, queue, 10)
		if len(ls) > 0 {
			err = fmt.Errorf("got %d leases from an empty queue", len(ls))
		}
		got <- err
	}()
	time.Sleep(200 * time.Millisecond)
	cancel()
	select {
	case err := <-got:
		assert.ErrorIs(t, err, context.Canceled, "a canceled Receive must return the context's error")
	case <-time.After(slack):
		t.Fatal("Receive did not return after its context was canceled")
	}

	// A context that is already done: no job is leased.
	require.NoError(t, q.Enqueue(timeout(t, 10*time.Second), testJob(queue, "kept")))
	ls, err := q.Receive(ctx, queue, 10)
	assert.ErrorIs(t, err, context.Canceled, "Receive with a canceled context")
	assert.Empty(t, ls, "Receive with a canceled context must lease nothing")
	l := receiveN(t, q, queue, 1, 5*time.Second)[0]
	assert.Equal(t, 1, l.Attempt, "a canceled Receive must not count an attempt")
}

func testClose(t *testing.T, q notify.Queue, queue string) {
	ctx := timeout(t, 20*time.Second)
	require.NoError(t, q.Enqueue(ctx, testJob(queue, "held"), testJob(queue, "dead")))
	ls := receiveN(t, q, queue, 2, 5*time.Second)
	var held, dead notify.Lease
	if ls[0].Job.ID == "held" {
		held, dead = ls[0], ls[1]
	} else {
		held, dead = ls[1], ls[0]
	}
	require.NoError(t, q.Bury(ctx, dead, "test"))

	blocked := make(chan error, 1)
	go func() {
		_, err := q.Receive(ctx, queue, 10)
		blocked <- err
	}()
	time.Sleep(200 * time.Millisecond)
	require.NoError(t, q.Close())
	select {
	case err := <-blocked:
		assert.ErrorIs(t, err, notify.ErrClosed, "a Receive blocked when Close was called")
	case <-time.After(slack):
		t.Fatal("a blocked Receive did not return after Close")
	}

	assert.ErrorIs(t, q.Enqueue(ctx, testJob(queue, "late")), notify.ErrClosed, "Enqueue after Close")
	_, err := q.Receive(ctx, queue, 10)
	assert.ErrorIs(t, err, notify.ErrClosed, "Receive after Close")
	assert.ErrorIs(t, q.Ack(ctx, held), notify.ErrClosed, "Ack after Close")
	assert.ErrorIs(t, q.Nack(ctx, held, 0), notify.ErrClosed, "Nack after Close")
	assert.ErrorIs(t, q.Bury(ctx, held, "x"), notify.ErrClosed, "Bury after Close")
	assert.ErrorIs(t, q.Replay(ctx, queue, "dead"), notify.ErrClosed, "Replay after Close")
	_, err = q.Stats(ctx, queue)
	assert.ErrorIs(t, err, notify.ErrClosed, "Stats after Close")
	if err := q.Close(); err != nil {
		assert.ErrorIs(t, err, notify.ErrClosed, "a second Close may return nil or ErrClosed")
	}
}
