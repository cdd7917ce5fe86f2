package notify_test

import (
	"context"
	"errors"
	"strconv"
	"sync/atomic"
	"testing"
	"testing/synctest"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gonotify/notify"
)

// batchDeduper adds ClaimBatch to a Deduper by claiming one by one, and
// counts the calls, so the Dispatcher's use of it can be observed.
type batchDeduper struct {
	notify.Deduper
	batches, claims atomic.Int64
}

func (b *batchDeduper) ClaimBatch(ctx context.Context, reqs []notify.ClaimRequest) ([]notify.ClaimResult, []error) {
	b.batches.Add(1)
	b.claims.Add(int64(len(reqs)))
	out := make([]notify.ClaimResult, len(reqs))
	var errs []error
	for i, r := range reqs {
		var err error
		out[i].Claimed, out[i].Holder, err = b.Claim(ctx, r.Key, r.Owner, r.TTL)
		if err != nil {
			if errs == nil {
				errs = make([]error, len(reqs))
			}
			errs[i] = err
		}
	}
	return out, errs
}

type batchLimiter struct {
	notify.Limiter
	batches, requests atomic.Int64
}

func (b *batchLimiter) AllowBatch(ctx context.Context, reqs []notify.LimitRequest) ([]notify.Decision, []error) {
	b.batches.Add(1)
	b.requests.Add(int64(len(reqs)))
	out := make([]notify.Decision, len(reqs))
	for i, r := range reqs {
		out[i], _ = b.Allow(ctx, r)
	}
	return out, nil
}

func TestSendBatchClaimsInOneCall(t *testing.T) {
	h := newHarness(t)
	bd := &batchDeduper{Deduper: h.cfg.Deduper}
	cfg := h.cfg
	cfg.Deduper = bd
	d, err := notify.New(cfg)
	require.NoError(t, err)
	ns := make([]notify.Notification, 40)
	for i := range ns {
		ns[i] = notify.Notification{EventID: "e" + strconv.Itoa(i%20), To: []notify.Address{{Channel: "sms", Value: "+1555"}}, Content: &notify.Message{Body: "x"}}
	}
	rs, err := d.SendBatch(t.Context(), ns)
	require.NoError(t, err)
	assert.Equal(t, int64(1), bd.batches.Load())
	assert.Equal(t, int64(20), bd.claims.Load(), "a repeat within the batch is settled without the deduper")
	dups := 0
	for i, r := range rs {
		if r.Duplicate {
			dups++
			assert.Equal(t, rs[i%20].NotificationID, r.NotificationID)
		}
	}
	assert.Equal(t, 20, dups, "the second of each pair is a duplicate of the first")
	st, err := h.queue.Stats(t.Context(), "notify.sms")
	require.NoError(t, err)
	assert.Equal(t, 20, st.Ready)
}

func TestFetchedBatchIsRateLimitedInOneCall(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t)
		bl := &batchLimiter{Limiter: h.cfg.Limiter}
		cfg := h.cfg
		cfg.Limiter = bl
		cfg.Categories = map[string]notify.CategoryPolicy{"chat": {Limit: notify.Limit{Rate: 5, Per: 1 << 62}, OverLimit: notify.OverLimitDrop}}
		d, err := notify.New(cfg)
		require.NoError(t, err)
		ns := make([]notify.Notification, 30)
		for i := range ns {
			ns[i] = notify.Notification{UserID: "u" + strconv.Itoa(i%3), Category: "chat",
				To: []notify.Address{{Channel: "sms", Value: "+1555"}}, Content: &notify.Message{Body: "x"}}
		}
		_, err = d.SendBatch(t.Context(), ns)
		require.NoError(t, err)
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan struct{})
		go func() { _ = d.Run(ctx); close(done) }()
		synctest.Wait()
		cancel()
		<-done
		assert.Len(t, h.ch["sms"].Sent(), 15, "5 for each of 3 users")
		// Fetches of one lease ask Allow; bigger ones ask AllowBatch once.
		require.Positive(t, bl.requests.Load())
		assert.Less(t, bl.batches.Load(), bl.requests.Load(), "several deliveries per call")
	})
}

// loggingQueue gives the memory queue the EventLogQueue methods (not atomic
// here: it only shows which calls the Dispatcher makes).
type loggingQueue struct {
	notify.Queue
	unsupported    bool
	enqueues, acks atomic.Int64
}

func (q *loggingQueue) EnqueueLogged(ctx context.Context, log notify.EventLog, events []notify.Event, jobs []notify.Job) error {
	if q.unsupported {
		return errors.ErrUnsupported
	}
	q.enqueues.Add(1)
	if err := log.Record(ctx, events...); err != nil {
		return err
	}
	return q.Enqueue(ctx, jobs...)
}

func (q *loggingQueue) AckLogged(ctx context.Context, log notify.EventLog, l notify.Lease, ev notify.Event) error {
	if q.unsupported {
		return errors.ErrUnsupported
	}
	q.acks.Add(1)
	if err := log.Record(ctx, ev); err != nil {
		return err
	}
	return q.Ack(ctx, l)
}

func TestEventLogQueueWritesLogAndQueueTogether(t *testing.T) {
	for _, unsupported := range []bool{false, true} {
		synctest.Test(t, func(t *testing.T) {
			h := newHarness(t)
			lq := &loggingQueue{Queue: h.queue, unsupported: unsupported}
			cfg := h.cfg
			cfg.Queue = lq
			d, err := notify.New(cfg)
			require.NoError(t, err)
			h.d = d
			h.contact(t, ana)
			h.run(t)
			r, err := d.Send(t.Context(), welcome("lq"))
			require.NoError(t, err)
			ds := h.settle(t, r.NotificationID)
			for _, s := range ds {
				assert.Equal(t, notify.StatusSent, s.Status)
				assert.Equal(t, []notify.Status{notify.StatusQueued, notify.StatusSent}, []notify.Status{s.Events[0].Status, s.Events[1].Status})
			}
			want := int64(1)
			if unsupported {
				want = 0
			}
			assert.Equal(t, want, lq.enqueues.Load())
			assert.Equal(t, 4*want, lq.acks.Load())
		})
	}
}

// failingLog makes Record fail.
type failingLog struct{ notify.Store }

func (failingLog) Record(context.Context, ...notify.Event) error { return errors.New("log down") }

func TestSendBatchReportsEveryFailure(t *testing.T) {
	h := newHarness(t)
	cfg := h.cfg
	cfg.Store = failingLog{h.store}
	d, err := notify.New(cfg)
	require.NoError(t, err)
	_, err = d.SendBatch(t.Context(), []notify.Notification{
		{UserID: "ana"}, // invalid
		{To: []notify.Address{{Channel: "sms", Value: "+1555"}}, Content: &notify.Message{Body: "x"}},
	})
	var be *notify.BatchError
	require.ErrorAs(t, err, &be)
	var ve *notify.ValidationError
	assert.ErrorAs(t, be.Errs[0], &ve)
	assert.ErrorContains(t, be.Errs[1], "log down")
}

func TestRepeatInsideOneBatch(t *testing.T) {
	h := newHarness(t)
	n := notify.Notification{EventID: "same", To: []notify.Address{{Channel: "sms", Value: "+1555"}}, Content: &notify.Message{Body: "x"}}
	rs, err := h.d.SendBatch(t.Context(), []notify.Notification{n, n})
	require.NoError(t, err)
	assert.False(t, rs[0].Duplicate)
	assert.True(t, rs[1].Duplicate)
	assert.Equal(t, rs[0].NotificationID, rs[1].NotificationID)
	assert.Equal(t, rs[0].Deliveries, rs[1].Deliveries)
	st, err := h.queue.Stats(t.Context(), "notify.sms")
	require.NoError(t, err)
	assert.Equal(t, 1, st.Ready)
}
