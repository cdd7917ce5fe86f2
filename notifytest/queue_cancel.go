package notifytest

import (
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gonotify/notify"
)

// canceler returns q as a notify.Canceler, or skips the test.
func canceler(t *testing.T, q notify.Queue) notify.Canceler {
	t.Helper()
	c, ok := notify.As[notify.Canceler](q)
	if !ok {
		t.Skip("the queue is not a notify.Canceler")
	}
	return c
}

// testCancel checks a notify.Canceler: of ready, delayed (NotBefore, a
// Nack's delay), leased, dead and unknown jobs, Cancel removes the ready
// and delayed ones and returns exactly their IDs; the leased one stays
// held (its Ack works), the dead one stays dead (Replay works); a second
// Cancel removes nothing; the removed jobs are never received.
func testCancel(t *testing.T, q notify.Queue, queue string) {
	c := canceler(t, q)
	ctx := timeout(t, 30*time.Second)
	later := testJob(queue, "c-later")
	later.NotBefore = time.Now().Add(time.Hour)
	require.NoError(t, q.Enqueue(ctx, testJob(queue, "c-leased"), testJob(queue, "c-nacked"), testJob(queue, "c-dead")))
	byID := map[string]notify.Lease{}
	for _, l := range receiveN(t, q, queue, 3, 10*time.Second) {
		byID[l.Job.ID] = l
	}
	require.Len(t, byID, 3)
	require.NoError(t, q.Nack(ctx, byID["c-nacked"], time.Hour))
	require.NoError(t, q.Bury(ctx, byID["c-dead"], "retries exhausted"))
	require.NoError(t, q.Enqueue(ctx, testJob(queue, "c-ready"), later))

	got, err := c.Cancel(ctx, queue, []string{"c-ready", "c-later", "c-leased", "c-nacked", "c-dead", "c-unknown", "c-ready"})
	require.NoError(t, err)
	assert.ElementsMatch(t, []string{"c-ready", "c-later", "c-nacked"}, got, "Cancel of ready, delayed, nacked, leased, dead, unknown and repeated IDs")
	st, err := q.Stats(ctx, queue)
	require.NoError(t, err)
	assert.Equal(t, notify.QueueStats{InFlight: 1, Dead: 1}, zeroAge(st), "Stats after Cancel")

	again, err := c.Cancel(ctx, queue, []string{"c-ready", "c-later", "c-nacked"})
	require.NoError(t, err)
	assert.Empty(t, again, "a second Cancel of the same IDs")
	none, err := c.Cancel(ctx, queue+"-unused", []string{"c-ready"})
	require.NoError(t, err)
	assert.Empty(t, none, "Cancel on a queue never used")

	require.NoError(t, q.Ack(ctx, byID["c-leased"]), "the leased job is still held after Cancel")
	require.NoError(t, q.Replay(ctx, queue, "c-dead"), "the dead job is still dead after Cancel")
	ls := receiveN(t, q, queue, 1, 10*time.Second)
	assert.Equal(t, "c-dead", ls[0].Job.ID, "the replayed job is the only one left")
	require.NoError(t, q.Ack(ctx, ls...))
	receiveNone(t, q, queue, 300*time.Millisecond, "after Cancel, Ack and the replayed job's Ack")
}

// testCancelLapsedLease checks that Cancel leaves a job whose lease ran out
// unsettled (its receiver may have sent it: a crash during the provider
// call, or a slow log write), and takes it once a receiver has Nacked it.
func testCancelLapsedLease(t *testing.T, q notify.Queue, queue string) {
	c := canceler(t, q)
	ctx := timeout(t, 30*time.Second)
	require.NoError(t, q.Enqueue(ctx, testJob(queue, "c-lapsing")))
	first := receiveN(t, q, queue, 1, 10*time.Second)[0]
	got, err := c.Cancel(ctx, queue, []string{"c-lapsing"})
	require.NoError(t, err)
	assert.Empty(t, got, "Cancel of a job whose lease is held")
	time.Sleep(time.Second + early + 100*time.Millisecond) // the lease (Visibility 1s) runs out
	got, err = c.Cancel(ctx, queue, []string{"c-lapsing"})
	require.NoError(t, err)
	assert.Empty(t, got, "Cancel of a job whose lease ran out unsettled: its receiver may have sent it")
	second := receiveN(t, q, queue, 1, 10*time.Second)[0]
	assert.Equal(t, 2, second.Attempt)
	require.NoError(t, q.Nack(ctx, second, time.Hour))
	got, err = c.Cancel(ctx, queue, []string{"c-lapsing"})
	require.NoError(t, err)
	assert.Equal(t, []string{"c-lapsing"}, got, "Cancel of a job its receiver returned with Nack")
	assert.ErrorIs(t, q.Ack(ctx, first), notify.ErrLeaseLost, "Ack of the lapsed lease of a canceled job")
	st, err := q.Stats(ctx, queue)
	require.NoError(t, err)
	assert.Equal(t, notify.QueueStats{}, zeroAge(st), "Stats after Cancel")
}

// testCancelRace checks that Cancel and Receive never both get one job:
// with receivers leasing while Cancel takes back every job, each job is
// received or canceled, exactly one of the two.
func testCancelRace(t *testing.T, q notify.Queue, queue string) {
	c := canceler(t, q)
	ctx := timeout(t, 60*time.Second)
	const n = 200
	jobs := testJobs(queue, "race", n)
	require.NoError(t, q.Enqueue(ctx, jobs...))
	var mu sync.Mutex
	received := map[string]int{}
	var wg sync.WaitGroup
	stop, start := make(chan struct{}), make(chan struct{})
	for range 2 {
		wg.Go(func() {
			<-start
			for {
				select {
				case <-stop:
					return
				default:
				}
				// A Receive cut by its deadline after the queue leased a
				// job would hide that job from both sides: give it time.
				ls, _ := q.Receive(timeout(t, 2*time.Second), queue, 1)
				mu.Lock()
				for _, l := range ls {
					received[l.Job.ID]++
				}
				mu.Unlock()
			}
		})
	}
	canceled := map[string]int{}
	close(start)
	// Cancel the head of the queue, the jobs the receivers take next, two
	// at a time, until every job is received or canceled.
	next := 0
	// Until every job is settled; the bound only keeps a broken queue from
	// holding the test (a loaded machine needs well over 20s).
	for deadline := time.Now().Add(50 * time.Second); time.Now().Before(deadline); {
		mu.Lock()
		for next < n && (received[jobs[next].ID] > 0 || canceled[jobs[next].ID] > 0) {
			next++
		}
		mu.Unlock()
		if next == n {
			break
		}
		window := []string{jobs[next].ID}
		if next+1 < n {
			window = append(window, jobs[next+1].ID)
		}
		got, err := c.Cancel(ctx, queue, window)
		require.NoError(t, err)
		mu.Lock()
		for _, id := range got {
			canceled[id]++
		}
		mu.Unlock()
	}
	close(stop)
	wg.Wait()
	var both, neither, twice []string
	for _, j := range jobs {
		r, k := received[j.ID], canceled[j.ID]
		switch {
		case r > 0 && k > 0:
			both = append(both, j.ID)
		case r == 0 && k == 0:
			neither = append(neither, j.ID)
		case r > 1 || k > 1:
			twice = append(twice, j.ID)
		}
	}
	assert.Empty(t, both, "jobs both received and canceled")
	assert.Empty(t, neither, "jobs neither received nor canceled")
	assert.Empty(t, twice, "jobs received or canceled twice (no lease expired: Visibility is 30s)")
	t.Logf("%d jobs: %d canceled, %d received", n, len(canceled), len(received))
}

// testCancelLogged checks a notify.EventLogCanceler's CancelLogged against
// Cancel followed by Record of the removed jobs' events: the same jobs
// removed and the same log, with a leased job neither removed nor logged;
// an EventLog it cannot write to is refused with errors.ErrUnsupported,
// nothing removed.
func testCancelLogged(t *testing.T, q notify.Queue, queue string, f QueueFeatures) {
	lc, ok := notify.As[notify.EventLogCanceler](q)
	if !ok {
		t.Skip("the queue is not a notify.EventLogCanceler")
	}
	require.NotNil(t, f.EventLog, "the queue is a notify.EventLogCanceler: set QueueFeatures.EventLog so the suite can check CancelLogged")
	log := f.EventLog(t)
	require.NotNil(t, log, "QueueFeatures.EventLog returned nil")
	ctx := timeout(t, 30*time.Second)
	type side struct{ queue, prefix string }
	logged, apart := side{queue + "-logged", queue + "-logged-"}, side{queue + "-apart", queue + "-apart-"}
	ids := []string{"k-ready", "k-later", "k-leased", "k-unknown"}
	for _, s := range []side{logged, apart} {
		job := func(id string) notify.Job { return testJob(s.queue, s.prefix+id) }
		later := job("k-later")
		later.NotBefore = time.Now().Add(time.Hour)
		require.NoError(t, q.Enqueue(ctx, job("k-leased")))
		held := receiveN(t, q, s.queue, 1, 10*time.Second)[0]
		require.NoError(t, q.Enqueue(ctx, job("k-ready"), later))
		var events []notify.Event
		for i, id := range ids {
			events = append(events, event(s.prefix+"n", s.prefix+id, notify.StatusQueued, 0, at(time.Duration(i)*time.Millisecond)))
		}
		require.NoError(t, log.Record(ctx, events...))
		for i := range events {
			events[i].Status, events[i].Reason, events[i].At = notify.StatusCanceled, notify.ReasonCanceled, at(time.Second)
		}
		var got []string
		var err error
		if s == logged {
			// A log it cannot write to: refused, nothing removed.
			_, err = lc.CancelLogged(ctx, foreignLog{t}, s.queue, slices.Clone(events))
			assert.ErrorIs(t, err, errors.ErrUnsupported, "CancelLogged to an EventLog it cannot write")
			st, err := q.Stats(ctx, s.queue)
			require.NoError(t, err)
			assert.Equal(t, notify.QueueStats{Ready: 1, Delayed: 1, InFlight: 1}, zeroAge(st), "Stats after a refused CancelLogged")
			got, err = lc.CancelLogged(ctx, log, s.queue, events)
			require.NoError(t, err, "CancelLogged")
		} else {
			jobIDs := make([]string, len(ids))
			for i, id := range ids {
				jobIDs[i] = s.prefix + id
			}
			got, err = lc.Cancel(ctx, s.queue, jobIDs)
			require.NoError(t, err, "Cancel")
			var removed []notify.Event
			for _, ev := range events {
				if slices.Contains(got, ev.DeliveryID) {
					removed = append(removed, ev)
				}
			}
			require.NoError(t, log.Record(ctx, removed...), "Record")
		}
		assert.ElementsMatch(t, []string{s.prefix + "k-ready", s.prefix + "k-later"}, got, "%s: the IDs removed", s.queue)
		st, err := q.Stats(ctx, s.queue)
		require.NoError(t, err)
		assert.Equal(t, notify.QueueStats{InFlight: 1}, zeroAge(st), "%s: Stats after cancel", s.queue)
		require.NoError(t, q.Ack(ctx, held), "%s: the leased job is still held", s.queue)
	}
	assert.Equal(t, loggedReads(t, log, apart.prefix, ids...), loggedReads(t, log, logged.prefix, ids...),
		"the log after CancelLogged and after Cancel then Record")
}
