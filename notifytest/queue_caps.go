package notifytest

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gonotify/notify"
)

// foreignLog is an EventLog no queue can write to in its own statements:
// a notify.EventLogQueue must refuse it. Any write to it fails the test.
type foreignLog struct{ t *testing.T }

func (f foreignLog) Record(context.Context, ...notify.Event) error {
	f.t.Error("an EventLogQueue wrote through Record to an EventLog it refused")
	return errors.New("notifytest: foreign log")
}

func (foreignLog) State(context.Context, string) (notify.DeliveryState, error) {
	return notify.DeliveryState{}, notify.ErrNotFound
}

func (foreignLog) Delivery(context.Context, string) (notify.DeliveryRecord, error) {
	return notify.DeliveryRecord{}, notify.ErrNotFound
}

func (foreignLog) Deliveries(context.Context, string) ([]notify.DeliveryRecord, error) {
	return nil, notify.ErrNotFound
}

// eventLogQueue returns q as a notify.EventLogQueue and the EventLog it
// writes to, or skips the test.
func eventLogQueue(t *testing.T, q notify.Queue, f QueueFeatures) (notify.EventLogQueue, notify.EventLog) {
	t.Helper()
	lq, ok := notify.As[notify.EventLogQueue](q)
	if !ok {
		t.Skip("the queue is not a notify.EventLogQueue")
	}
	require.NotNil(t, f.EventLog, "the queue is a notify.EventLogQueue: set QueueFeatures.EventLog so the suite can check EnqueueLogged and AckLogged")
	log := f.EventLog(t)
	require.NotNil(t, log, "QueueFeatures.EventLog returned nil")
	return lq, log
}

// loggedReads returns what log holds of each delivery: its events with the
// delivery ID cut to what follows prefix, or nil when it holds none.
func loggedReads(t *testing.T, log notify.EventLog, prefix string, ids ...string) [][]notify.Event {
	t.Helper()
	out := make([][]notify.Event, len(ids))
	for i, id := range ids {
		ds, err := log.Delivery(timeout(t, 10*time.Second), prefix+id)
		if errors.Is(err, notify.ErrNotFound) {
			continue
		}
		require.NoError(t, err, "Delivery")
		for _, e := range ds.Events {
			e.DeliveryID = id
			e.NotificationID = ""
			out[i] = append(out[i], e)
		}
	}
	return out
}

// testEnqueueLogged checks a notify.EventLogQueue's EnqueueLogged against
// Record followed by Enqueue: the same events and jobs (a repeat of a job
// within the call, a job already queued), written one way on one queue and
// the other way on another, leave the same jobs and the same log; a write
// Record or Enqueue refuses fails and writes nothing at all; an EventLog the
// queue cannot write to is refused with errors.ErrUnsupported.
func testEnqueueLogged(t *testing.T, q notify.Queue, queue string, f QueueFeatures) {
	lq, log := eventLogQueue(t, q, f)
	ctx := timeout(t, 30*time.Second)
	type side struct{ queue, prefix string }
	logged, apart := side{queue + "-logged", queue + "-logged-"}, side{queue + "-apart", queue + "-apart-"}
	write := func(s side, events []notify.Event, jobs []notify.Job) error {
		if s == logged {
			return lq.EnqueueLogged(ctx, log, events, jobs)
		}
		if err := log.Record(ctx, events...); err != nil {
			return err
		}
		return q.Enqueue(ctx, jobs...)
	}
	input := func(s side, ids ...string) ([]notify.Event, []notify.Job) {
		var events []notify.Event
		var jobs []notify.Job
		for i, id := range ids {
			events = append(events, event(s.prefix+"n", s.prefix+id, notify.StatusQueued, 0, at(time.Duration(i)*time.Millisecond)))
			jobs = append(jobs, testJob(s.queue, id))
		}
		return events, jobs
	}

	for _, s := range []side{logged, apart} {
		require.NoError(t, q.Enqueue(ctx, testJob(s.queue, "pre")))
		events, jobs := input(s, "d1", "d2")
		// A second event of d1, a repeat of d1's job, and a job already queued.
		events = append(events, event(s.prefix+"n", s.prefix+"d1", notify.StatusDeferred, 0, at(time.Second)))
		jobs = append(jobs, testJob(s.queue, "d1"), testJob(s.queue, "pre"))
		require.NoError(t, write(s, events, jobs), "%s: write", s.queue)
	}
	assert.Equal(t, loggedReads(t, log, apart.prefix, "d1", "d2"), loggedReads(t, log, logged.prefix, "d1", "d2"),
		"the log after EnqueueLogged and after Record then Enqueue")
	var got [2][]string
	for i, s := range []side{logged, apart} {
		st, err := q.Stats(ctx, s.queue)
		require.NoError(t, err)
		assert.Equal(t, notify.QueueStats{Ready: 3}, zeroAge(st), "%s: Stats after the write", s.queue)
		ls := receiveN(t, q, s.queue, 3, 10*time.Second)
		for _, l := range ls {
			assert.Equal(t, 1, l.Attempt)
			assertDelivery(t, testDelivery(l.Job.ID), l.Job.Delivery)
		}
		got[i] = ids(ls)
		require.NoError(t, q.Ack(ctx, ls...))
	}
	assert.ElementsMatch(t, got[1], got[0], "the jobs after EnqueueLogged and after Record then Enqueue")

	// Writes that fail: a job with no ID (when Enqueue refuses it) and a
	// context already done. EnqueueLogged fails when either write alone
	// would, and then has written both its events and its jobs or neither.
	done, cancel := context.WithCancel(ctx)
	cancel()
	for k, bad := range []struct {
		name string
		ctx  context.Context
		job  func(j *notify.Job)
	}{{"no job ID", ctx, func(j *notify.Job) { j.ID = "" }}, {"done context", done, func(*notify.Job) {}}} {
		var errs [2]error
		sides := [2]side{}
		for i, s := range []side{logged, apart} {
			s.queue += fmt.Sprint("-bad", k)
			s.prefix += fmt.Sprint("bad", k, "-")
			sides[i] = s
			events, jobs := input(s, "e1", "e2")
			bad.job(&jobs[1])
			if i == 0 {
				errs[i] = lq.EnqueueLogged(bad.ctx, log, events, jobs)
			} else if errs[i] = log.Record(bad.ctx, events...); errs[i] == nil {
				errs[i] = q.Enqueue(bad.ctx, jobs...)
			}
		}
		if (errs[0] != nil) != (errs[1] != nil) {
			t.Errorf("%s: EnqueueLogged returned %v, Record then Enqueue %v", bad.name, errs[0], errs[1])
		}
		if errs[0] == nil {
			continue
		}
		assert.NotErrorIs(t, errs[0], errors.ErrUnsupported, "%s: EnqueueLogged refused its own EventLog", bad.name)
		reads := loggedReads(t, log, sides[0].prefix, "e1", "e2")
		st, err := q.Stats(ctx, sides[0].queue)
		require.NoError(t, err)
		if (reads[0] != nil) != (st.Ready > 0) {
			t.Errorf("%s: EnqueueLogged failed and wrote one of its writes without the other: events %v, jobs %+v", bad.name, reads, st)
		}
	}

	// Nothing to write answers whether log can be written to, writing nothing.
	require.NoError(t, lq.EnqueueLogged(ctx, log, nil, nil), "EnqueueLogged of nothing to its own EventLog")
	foreign := foreignLog{t}
	assert.ErrorIs(t, lq.EnqueueLogged(ctx, foreign, nil, nil), errors.ErrUnsupported, "EnqueueLogged of nothing to an EventLog it cannot write")
	events, jobs := input(logged, "f1")
	assert.ErrorIs(t, lq.EnqueueLogged(ctx, foreign, events, jobs), errors.ErrUnsupported, "EnqueueLogged to an EventLog it cannot write")
	st, err := q.Stats(ctx, logged.queue)
	require.NoError(t, err)
	assert.Equal(t, notify.QueueStats{}, zeroAge(st), "EnqueueLogged refused an EventLog but enqueued jobs")
}

// testAckLogged checks a notify.EventLogQueue's AckLogged against Record
// followed by Ack: on a held lease both record the event and remove the
// job; on a lease no longer held both record the event and report
// ErrLeaseLost; an EventLog the queue cannot write to is refused with
// errors.ErrUnsupported, the lease left held.
func testAckLogged(t *testing.T, q notify.Queue, queue string, f QueueFeatures) {
	lq, log := eventLogQueue(t, q, f)
	ctx := timeout(t, 30*time.Second)
	type side struct{ queue, prefix string }
	logged, apart := side{queue + "-logged", queue + "-logged-"}, side{queue + "-apart", queue + "-apart-"}
	ack := func(s side, l notify.Lease, ev notify.Event) error {
		if s == logged {
			return lq.AckLogged(ctx, log, l, ev)
		}
		if err := log.Record(ctx, ev); err != nil {
			return err
		}
		return q.Ack(ctx, l)
	}
	for _, s := range []side{logged, apart} {
		require.NoError(t, q.Enqueue(ctx, testJob(s.queue, "a1"), testJob(s.queue, "a2")))
		byID := map[string]notify.Lease{}
		for _, l := range receiveN(t, q, s.queue, 2, 10*time.Second) {
			byID[l.Job.ID] = l
		}
		require.Len(t, byID, 2)
		sent := event(s.prefix+"n", s.prefix+"a1", notify.StatusSent, 1, at(time.Second))
		sent.ProviderID = "p-1"
		require.NoError(t, ack(s, byID["a1"], sent), "%s: ack of a held lease", s.queue)
		again := event(s.prefix+"n", s.prefix+"a1", notify.StatusDelivered, 0, at(2*time.Second))
		assert.ErrorIs(t, ack(s, byID["a1"], again), notify.ErrLeaseLost, "%s: ack of a lease already acked", s.queue)

		st, err := q.Stats(ctx, s.queue)
		require.NoError(t, err)
		assert.Equal(t, notify.QueueStats{InFlight: 1}, zeroAge(st), "%s: Stats after acking one of two leases", s.queue)
		if s == logged {
			ev := event(s.prefix+"n", s.prefix+"a2", notify.StatusSent, 1, at(time.Second))
			assert.ErrorIs(t, lq.AckLogged(ctx, foreignLog{t}, byID["a2"], ev), errors.ErrUnsupported, "AckLogged to an EventLog it cannot write")
		}
		require.NoError(t, q.Ack(ctx, byID["a2"]), "%s: the other lease is still held", s.queue)
		receiveNone(t, q, s.queue, 300*time.Millisecond, "after both leases were acked")
	}
	assert.Equal(t, loggedReads(t, log, apart.prefix, "a1", "a2"), loggedReads(t, log, logged.prefix, "a1", "a2"),
		"the log after AckLogged and after Record then Ack")
}

// testVisibility checks that a notify.VisibilityReporter reports the
// visibility timeout it was configured with.
func testVisibility(t *testing.T, q notify.Queue, cfg QueueConfig) {
	vr, ok := notify.As[notify.VisibilityReporter](q)
	if !ok {
		t.Skip("the queue is not a notify.VisibilityReporter")
	}
	if v := vr.Visibility(); v > 0 {
		assert.Equal(t, cfg.Visibility, v, "Visibility of a queue configured with a visibility timeout of %v", cfg.Visibility)
	}
}

// testRepeatEnqueuer checks that a queue declared with NoCrossCallDedup
// tells the Dispatcher so: a notify.RepeatEnqueuer whose
// EnqueueIsIdempotent is false. A queue that says it is idempotent is held
// to it by the DuplicateEnqueue subtest.
func testRepeatEnqueuer(t *testing.T, q notify.Queue, f QueueFeatures) {
	ri, ok := notify.As[notify.RepeatEnqueuer](q)
	idempotent := !ok || ri.EnqueueIsIdempotent()
	if f.NoCrossCallDedup && idempotent {
		t.Error("QueueFeatures.NoCrossCallDedup says a job ID enqueued again by a later call may be queued twice, " +
			"but the queue does not tell the Dispatcher (a notify.RepeatEnqueuer whose EnqueueIsIdempotent returns false), " +
			"so a retried Send may enqueue its deliveries again and send them twice")
	}
}
