package notify_test

import (
	"context"
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
		out[i], _ = b.Allow(ctx, r.Key, r.Limit)
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
		cfg.Categories = map[string]notify.CategoryPolicy{"chat": {Limit: notify.Limit{Rate: 5, Per: 1 << 62}, OverLimit: notify.Drop}}
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
