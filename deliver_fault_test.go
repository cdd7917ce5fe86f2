package notify_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/gonotify/notify"
	"github.com/gonotify/notify/notifytest"
	qmem "github.com/gonotify/notify/queue/memory"
)

// Faults inside the deliver side's steps: a Channel that panics, runs
// past its lease or never returns, a Store that fails or stops answering.
// Every test runs in a synctest bubble, on its fake clock.

// smsUsers stores n users with a phone each and sends each an SMS. It
// returns the notification IDs by phone.
func smsUsers(t *testing.T, h *harness, n int) map[string]string {
	t.Helper()
	ids := map[string]string{}
	for i := range n {
		phone := "+1500555" + fmt.Sprintf("%04d", i)
		user := "user" + strconv.Itoa(i)
		h.contact(t, notify.Contact{UserID: user, Phone: phone})
		r, err := h.d.Send(t.Context(), notify.Notification{
			EventID: "fault:" + user, UserID: user, Channels: []string{notify.ChannelSMS},
			Content: &notify.Message{Body: "hello"},
		})
		require.NoError(t, err)
		require.Len(t, r.Deliveries, 1)
		ids[phone] = r.NotificationID
	}
	return ids
}

// A Channel that panics on one delivery: the process survives, that
// delivery is retried once and then failed, and the others are delivered.
func TestPanickingChannelFailsOnlyItsDelivery(t *testing.T) {
	for _, batching := range []bool{false, true} {
		t.Run(fmt.Sprintf("batching=%v", batching), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				const poison = "+15005550007"
				var h *harness
				fake := notifytest.NewChannel(notify.ChannelSMS)
				fake.OnSend(func(d *notify.Delivery) (notify.Result, error) {
					if d.Address == poison {
						panic("provider client bug")
					}
					return notify.Result{ProviderID: "ok-" + d.ID}, nil
				})
				h = newHarness(t, func(c *notify.Config) {
					if batching {
						c.Channels = []notify.Channel{fake.Batching()}
					} else {
						c.Channels = []notify.Channel{fake}
					}
				})
				ids := smsUsers(t, h, 20)
				h.run(t)
				for phone, id := range ids {
					ds := h.settle(t, id)
					require.Len(t, ds, 1)
					if phone == poison {
						assert.Equal(t, notify.StatusFailed, ds[0].Status)
						assert.Equal(t, 2, ds[0].Attempts, "retried once, failed on the second panic")
						assert.Contains(t, ds[0].Reason, "channel panicked: provider client bug")
						continue
					}
					assert.Equal(t, notify.StatusSent, ds[0].Status, phone)
				}
				st, err := h.queue.Stats(t.Context(), "notify.sms")
				require.NoError(t, err)
				assert.Equal(t, notify.QueueStats{}, st, "nothing left on the queue")
			})
		})
	}
}

// concurrencyChannel wraps a Channel and records the most calls for one
// delivery that were ever in flight at once.
type concurrencyChannel struct {
	notify.Channel
	mu       sync.Mutex
	inFlight map[string]int
	most     int
}

func (c *concurrencyChannel) Send(ctx context.Context, d *notify.Delivery) (notify.Result, error) {
	c.mu.Lock()
	if c.inFlight == nil {
		c.inFlight = map[string]int{}
	}
	c.inFlight[d.ID]++
	c.most = max(c.most, c.inFlight[d.ID])
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		c.inFlight[d.ID]--
		c.mu.Unlock()
	}()
	return c.Channel.Send(ctx, d)
}

func (c *concurrencyChannel) maxInFlight() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.most
}

// plainQueue hides every optional interface of a Queue (LeaseExtender,
// VisibilityReporter, EventLogQueue).
type plainQueue struct{ notify.Queue }

// visibleQueue reports its visibility but cannot extend leases.
type visibleQueue struct {
	notify.Queue
	vis time.Duration
}

func (q visibleQueue) Visibility() time.Duration { return q.vis }

// A send slower than the queue's visibility: the lease is extended while
// it runs (memory queue) or the attempt is cut short before the lease
// ends (a queue that cannot extend). Either way no delivery is ever sent
// by two workers at once and attempts stay within MaxAttempts.
func TestSlowSendNeverOutlivesItsLease(t *testing.T) {
	t.Run("extended", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			q := qmem.New(qmem.Config{Visibility: 2 * time.Second})
			fake := notifytest.NewChannel(notify.ChannelSMS).Latency(10 * time.Second)
			cc := &concurrencyChannel{Channel: fake}
			h := newHarness(t, func(c *notify.Config) {
				c.Queue = q
				c.Channels = []notify.Channel{cc}
			})
			h.queue = q
			ids := smsUsers(t, h, 5)
			h.run(t)
			for _, id := range ids {
				ds := h.settle(t, id)
				assert.Equal(t, notify.StatusSent, ds[0].Status)
				assert.Equal(t, 1, ds[0].Attempts)
				assert.Equal(t, 1, fake.CallCount(ds[0].DeliveryID), "sent once")
			}
			assert.Equal(t, 1, cc.maxInFlight(), "a delivery was sent by two workers at once")
		})
	})
	t.Run("capped", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			q := qmem.New(qmem.Config{Visibility: 2 * time.Second})
			fake := notifytest.NewChannel(notify.ChannelSMS).Latency(10 * time.Second)
			cc := &concurrencyChannel{Channel: fake}
			h := newHarness(t, func(c *notify.Config) {
				c.Queue = plainQueue{q}
				c.Channels = []notify.Channel{cc}
			})
			h.queue = q
			ids := smsUsers(t, h, 5)
			h.run(t)
			for _, id := range ids {
				ds := h.settle(t, id)
				// Every attempt was cut at the lease, so it never succeeds.
				assert.Equal(t, notify.StatusDead, ds[0].Status)
				assert.Equal(t, h.cfg.Retry.MaxAttempts, ds[0].Attempts)
				assert.Equal(t, h.cfg.Retry.MaxAttempts, fake.CallCount(ds[0].DeliveryID), "one call per attempt")
				for _, c := range fake.Calls() {
					if c.Delivery.ID == ds[0].DeliveryID {
						assert.True(t, c.Delivery.Attempt <= h.cfg.Retry.MaxAttempts)
					}
				}
			}
			assert.Equal(t, 1, cc.maxInFlight(), "a delivery was sent by two workers at once")
		})
	})
	t.Run("rejected", func(t *testing.T) {
		q := qmem.New(qmem.Config{Visibility: 2 * time.Second})
		t.Cleanup(func() { _ = q.Close() })
		h := newHarness(t)
		cfg := h.cfg
		cfg.Queue = visibleQueue{Queue: q, vis: 2 * time.Second}
		_, err := notify.New(cfg)
		require.Error(t, err)
		assert.Contains(t, err.Error(), "visibility")
		cfg.SendTimeout = time.Second // 1s + 0.5s reserve fits in 2s
		_, err = notify.New(cfg)
		require.NoError(t, err)
	})
}

// faultStore wraps a Store and injects faults into chosen calls.
type faultStore struct {
	notify.Store
	// failSent makes that many Records of a sent event fail.
	failSent atomic.Int64
	// blackhole makes Allowed and the Record of a sent event block until
	// their context is done.
	blackhole atomic.Bool
	mu        sync.Mutex
	blocked   []time.Duration // how long each black-holed call took
	records   atomic.Int64    // Records of sent events that reached the log
}

func (s *faultStore) hole(ctx context.Context) error {
	start := time.Now()
	<-ctx.Done()
	s.mu.Lock()
	s.blocked = append(s.blocked, time.Since(start))
	s.mu.Unlock()
	return ctx.Err()
}

func (s *faultStore) durations() []time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]time.Duration(nil), s.blocked...)
}

func (s *faultStore) Record(ctx context.Context, evs ...notify.Event) error {
	for _, e := range evs {
		if e.Status != notify.StatusSent {
			continue
		}
		if s.blackhole.Load() {
			return s.hole(ctx)
		}
		if s.failSent.Add(-1) >= 0 {
			return errors.New("store: connection reset")
		}
		s.records.Add(1)
	}
	return s.Store.Record(ctx, evs...)
}

func (s *faultStore) Consent(ctx context.Context, userID, category, channel string) (notify.Consent, error) {
	if s.blackhole.Load() {
		return notify.ConsentUnset, s.hole(ctx)
	}
	return s.Store.Consent(ctx, userID, category, channel)
}

// A sent outcome whose log write fails is written again until it lands:
// the delivery is logged as sent and sent once, and its job is acked.
func TestSentOutcomeReachesTheLogDespiteStoreErrors(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		fs := &faultStore{}
		fs.failSent.Store(4)
		h := newHarness(t, func(c *notify.Config) {
			fs.Store = c.Store
			c.Store = fs
		})
		h.contact(t, ana)
		h.run(t)
		n := welcome("store-errors")
		n.Channels = []string{notify.ChannelSMS}
		r, err := h.d.Send(t.Context(), n)
		require.NoError(t, err)
		ds := h.settle(t, r.NotificationID)
		require.Len(t, ds, 1)
		assert.Equal(t, notify.StatusSent, ds[0].Status)
		assert.Equal(t, 1, ds[0].Attempts)
		synctest.Wait()
		assert.Equal(t, 1, h.ch[notify.ChannelSMS].SentCount(ds[0].DeliveryID), "sent once")
		assert.EqualValues(t, 1, fs.records.Load())
		st, err := h.queue.Stats(t.Context(), "notify.sms")
		require.NoError(t, err)
		assert.Equal(t, notify.QueueStats{}, st, "the job was acked")
	})
}

// A Channel that ignores its context and never returns: the worker gives
// up on it after its deadline plus a grace period, logs the attempt as
// retrying (maybe sent) and goes on; other deliveries proceed. While as
// many calls as the channel has workers are stuck, nothing more is leased.
func TestChannelIgnoringContextFreesItsWorker(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const poison = "+15005550000"
		release := make(chan struct{})
		var stuck atomic.Int64
		fake := notifytest.NewChannel(notify.ChannelSMS)
		fake.OnSend(func(d *notify.Delivery) (notify.Result, error) {
			if d.Address == poison {
				select {
				case <-release:
				default:
					stuck.Add(1)
					<-release // ignores the context
					stuck.Add(-1)
				}
			}
			return notify.Result{ProviderID: "ok-" + d.ID}, nil
		})
		h := newHarness(t, func(c *notify.Config) {
			c.Channels = []notify.Channel{fake}
			c.Workers = map[string]int{notify.ChannelSMS: 2}
			c.Retry.MaxAttempts = 10
		})
		ids := smsUsers(t, h, 6) // the first is the poison
		h.run(t)
		for phone, id := range ids {
			if phone != poison {
				ds := h.settle(t, id)
				assert.Equal(t, notify.StatusSent, ds[0].Status, phone)
			}
		}
		// 30s SendTimeout (the default) + 1s grace, twice: both workers'
		// calls are stuck.
		time.Sleep(2*31*time.Second + time.Second)
		synctest.Wait()
		assert.EqualValues(t, 2, stuck.Load())
		ds, err := h.d.Status(t.Context(), ids[poison])
		require.NoError(t, err)
		require.Len(t, ds, 1)
		assert.Equal(t, notify.StatusRetrying, ds[0].Status)
		assert.Equal(t, 2, ds[0].Attempts)
		assert.Contains(t, ds[0].Reason, "channel did not return within 31s")
		last := ds[0].Events[len(ds[0].Events)-1]
		assert.True(t, last.MaybeSent)

		// Two stuck calls, two workers: nothing more is leased.
		h.contact(t, notify.Contact{UserID: "late", Phone: "+15005559999"})
		r, err := h.d.Send(t.Context(), notify.Notification{EventID: "late", UserID: "late", Channels: []string{"sms"}, Content: &notify.Message{Body: "hi"}})
		require.NoError(t, err)
		time.Sleep(time.Minute)
		synctest.Wait()
		st, err := h.queue.Stats(t.Context(), "notify.sms")
		require.NoError(t, err)
		assert.Equal(t, 2, st.Ready, "the late delivery and the poison wait while the channel is stuck")

		// The stuck calls return: leasing resumes and everything settles.
		close(release)
		assert.Equal(t, notify.StatusSent, h.settle(t, r.NotificationID)[0].Status)
		assert.Equal(t, notify.StatusSent, h.settle(t, ids[poison])[0].Status)
	})
}

// A Store that stops answering: every call a worker makes to it returns
// within Config.BackendTimeout, and the worker keeps going.
func TestBlackHoledStoreCallsReturnWithinBackendTimeout(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const timeout = 2 * time.Second
		fs := &faultStore{}
		h := newHarness(t, func(c *notify.Config) {
			fs.Store = c.Store
			c.Store = fs
			c.BackendTimeout = timeout
		})
		h.contact(t, ana)
		n := welcome("black-hole")
		n.Channels = []string{notify.ChannelSMS}
		_, err := h.d.Send(t.Context(), n)
		require.NoError(t, err)
		crit := welcome("black-hole-critical") // skips the opt-out check: its sent Record is black-holed
		crit.Channels = []string{notify.ChannelEmail}
		crit.Critical = true
		_, err = h.d.Send(t.Context(), crit)
		require.NoError(t, err)
		fs.blackhole.Store(true) // the deliver side only
		h.run(t)
		time.Sleep(20 * time.Second)
		synctest.Wait()
		ds := fs.durations()
		require.GreaterOrEqual(t, len(ds), 4, "black-holed calls were not cut off and retried")
		for _, d := range ds {
			assert.LessOrEqual(t, d, timeout)
		}
		fs.blackhole.Store(false)
		r, err := h.d.Send(t.Context(), welcome("after"))
		require.NoError(t, err)
		for _, s := range h.settle(t, r.NotificationID) {
			assert.Equal(t, notify.StatusSent, s.Status)
		}
	})
}

// slowOnceStore makes the first Allowed of each user take slow, once on
// is set.
type slowOnceStore struct {
	notify.Store
	slow time.Duration
	on   atomic.Bool
	mu   sync.Mutex
	seen map[string]bool
}

func (s *slowOnceStore) Consent(ctx context.Context, userID, category, channel string) (notify.Consent, error) {
	if s.on.Load() {
		s.mu.Lock()
		first := !s.seen[userID]
		if s.seen == nil {
			s.seen = map[string]bool{}
		}
		s.seen[userID] = true
		s.mu.Unlock()
		if first {
			select {
			case <-time.After(s.slow):
			case <-ctx.Done():
				return notify.ConsentUnset, ctx.Err()
			}
		}
	}
	return s.Store.Consent(ctx, userID, category, channel)
}

// A lease that expires during the checks before the send (a slow but
// successful Store call) is not sent by its first worker, even when the
// queue can extend leases: another worker may hold the job by then. The
// delivery is sent once.
func TestLeaseExpiredBeforeTheSendIsNotSent(t *testing.T) {
	for _, extend := range []bool{true, false} {
		t.Run(fmt.Sprintf("extend=%v", extend), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				fs := &slowOnceStore{slow: 3 * time.Second}
				h := leaseHarness(t, extend, 2*time.Second, func(c *notify.Config) {
					fs.Store = c.Store
					c.Store = fs
					c.Workers = map[string]int{notify.ChannelSMS: 2}
				})
				ids := smsUsers(t, h, 3)
				fs.on.Store(true)
				h.run(t)
				for _, id := range ids {
					ds := h.settle(t, id)
					assert.Equal(t, notify.StatusSent, ds[0].Status)
				}
				time.Sleep(10 * time.Second) // any late second send happens by then
				synctest.Wait()
				for _, id := range ids {
					ds := h.settle(t, id)
					assert.Equal(t, 1, h.ch[notify.ChannelSMS].CallCount(ds[0].DeliveryID), "sent twice")
				}
			})
		})
	}
}

// shortExtendQueue is the memory queue whose Extend returns a deadline
// slightly earlier than asked for, as a queue that measures the time on
// its own clock after the call started does (PostgreSQL).
type shortExtendQueue struct {
	*qmem.Queue
	short time.Duration
	calls atomic.Int64
}

func (q *shortExtendQueue) Extend(ctx context.Context, l notify.Lease, d time.Duration) (time.Time, error) {
	q.calls.Add(1)
	dl, err := q.Queue.Extend(ctx, l, d)
	return dl.Add(-q.short), err
}

// countingHandler counts the log records whose message contains a
// string.
type countingHandler struct {
	slog.Handler
	substr string
	n      *atomic.Int64
}

func (h countingHandler) Handle(ctx context.Context, r slog.Record) error {
	if strings.Contains(r.Message, h.substr) {
		h.n.Add(1)
	}
	return nil
}

func (h countingHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h countingHandler) WithAttrs([]slog.Attr) slog.Handler       { return h }
func (h countingHandler) WithGroup(string) slog.Handler            { return h }

// A queue whose extensions come back a little short of what was asked
// still needs only the extensions a long send needs, and the send is not
// cut short with a warning that its lease could not be extended.
func TestShortExtensionsDoNotRepeat(t *testing.T) {
	for _, short := range []time.Duration{0, 100 * time.Microsecond} {
		t.Run(short.String(), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				q := &shortExtendQueue{Queue: qmem.New(qmem.Config{Visibility: 20 * time.Second}), short: short}
				fake := notifytest.NewChannel(notify.ChannelSMS).Latency(time.Hour)
				var warnings atomic.Int64
				h := newHarness(t, func(c *notify.Config) {
					c.Queue = q
					c.Channels = []notify.Channel{fake}
					c.SendTimeout = 30 * time.Second
					c.Logger = slog.New(countingHandler{Handler: slog.DiscardHandler, substr: "could not be extended", n: &warnings})
				})
				h.queue = q.Queue
				smsUsers(t, h, 1)
				h.run(t)
				time.Sleep(31 * time.Second) // one send, cut by SendTimeout
				synctest.Wait()
				assert.LessOrEqual(t, q.calls.Load(), int64(2), "extensions during one 30s send on a 20s lease")
				assert.Zero(t, warnings.Load(), "the send was canceled early")
			})
		})
	}
}

// failStatusStore fails the Records of events of one status: all of them
// while on is set, or the next failN.
type failStatusStore struct {
	notify.Store
	status notify.Status
	on     atomic.Bool
	failN  atomic.Int64
	fails  atomic.Int64
}

func (s *failStatusStore) Record(ctx context.Context, evs ...notify.Event) error {
	for _, e := range evs {
		if e.Status == s.status && (s.on.Load() || s.failN.Add(-1) >= 0) {
			s.fails.Add(1)
			return errors.New("store: connection reset")
		}
	}
	return s.Store.Record(ctx, evs...)
}

// alwaysFailing is a channel whose every send fails with outcome.
func alwaysFailing(outcome notify.Outcome) *notifytest.Channel {
	fake := notifytest.NewChannel(notify.ChannelSMS)
	fake.OnSend(func(d *notify.Delivery) (notify.Result, error) {
		return notify.Result{}, &notify.OutcomeError{Outcome: outcome, Err: errors.New("provider says no")}
	})
	return fake
}

// failingHarness is a harness whose SMS channel always fails with outcome
// and whose Store fails the Records of status as fs is told to, with one
// SMS sent; it returns that notification's ID.
func failingHarness(t *testing.T, status notify.Status, outcome notify.Outcome, maxAttempts int) (h *harness, fs *failStatusStore, fake *notifytest.Channel, id string) {
	t.Helper()
	fs = &failStatusStore{status: status}
	fake = alwaysFailing(outcome)
	h = newHarness(t, func(c *notify.Config) {
		fs.Store = c.Store
		c.Store = fs
		c.Channels = []notify.Channel{fake}
		c.Retry.MaxAttempts = maxAttempts
	})
	return h, fs, fake, smsUsers(t, h, 1)["+15005550000"]
}

// Attempts whose retrying outcome could not be logged still count: the
// channel is called MaxAttempts times, not forever, and the delivery
// ends dead.
func TestUnloggedRetriesCountAsAttempts(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h, fs, fake, id := failingHarness(t, notify.StatusRetrying, notify.OutcomeRetry, 3)
		fs.on.Store(true)
		h.run(t)
		time.Sleep(10 * time.Second) // retries are milliseconds apart
		synctest.Wait()
		ds, err := h.d.Status(t.Context(), id)
		require.NoError(t, err)
		assert.Equal(t, notify.StatusDead, ds[0].Status)
		assert.Equal(t, 3, fake.CallCount(ds[0].DeliveryID), "one call per attempt")
		assert.EqualValues(t, 2, fs.fails.Load())
		st, err := h.queue.Stats(t.Context(), "notify.sms")
		require.NoError(t, err)
		assert.Equal(t, 1, st.Dead)
	})
}

// A final outcome whose log write fails is neither buried nor acked, and
// not sent again: the job returns to the queue and a later receipt logs
// the outcome decided before.
func TestUnloggedFinalOutcomeIsLoggedLaterNotSentAgain(t *testing.T) {
	for _, tc := range []struct {
		outcome notify.Outcome
		status  notify.Status
		calls   int
	}{
		{notify.OutcomeRetry, notify.StatusDead, 2},
		{notify.OutcomePermanent, notify.StatusFailed, 1},
	} {
		t.Run(string(tc.status), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				h, fs, fake, id := failingHarness(t, tc.status, tc.outcome, 2)
				fs.failN.Store(3)
				h.run(t)
				// While the outcome cannot be logged the job stays on the
				// queue, never dead or acked with the log saying otherwise.
				for end := time.Now().Add(time.Hour); fs.fails.Load() < 3; {
					require.True(t, time.Now().Before(end), "the outcome was not logged again")
					time.Sleep(time.Second)
					synctest.Wait()
					st, err := h.queue.Stats(t.Context(), "notify.sms")
					require.NoError(t, err)
					ds, err := h.d.Status(t.Context(), id)
					require.NoError(t, err)
					if !ds[0].Status.Final() {
						require.Zero(t, st.Dead, "buried while the log says %s", ds[0].Status)
						require.Equal(t, 1, st.Ready+st.Delayed+st.InFlight, "the job left the queue unlogged")
					}
				}
				ds := h.settle(t, id)
				assert.Equal(t, tc.status, ds[0].Status)
				assert.Equal(t, tc.calls, ds[0].Attempts)
				assert.Equal(t, tc.calls, fake.CallCount(ds[0].DeliveryID), "sent again after its outcome was decided")
				st, err := h.queue.Stats(t.Context(), "notify.sms")
				require.NoError(t, err)
				assert.Equal(t, 0, st.Ready+st.Delayed+st.InFlight)
			})
		})
	}
}

// panickingStore's Allowed panics for one user.
type panickingStore struct {
	notify.Store
	poison string
	on     atomic.Bool
	calls  atomic.Int64
}

func (s *panickingStore) Consent(ctx context.Context, userID, category, channel string) (notify.Consent, error) {
	if s.on.Load() && userID == s.poison {
		s.calls.Add(1)
		panic("store client bug")
	}
	return s.Store.Consent(ctx, userID, category, channel)
}

// A delivery whose handling panics outside the Channel call (here in the
// Store) is not redelivered forever: each panic counts as an attempt, and
// after MaxAttempts it is logged dead and buried. The worker goes on.
func TestPoisonDeliveryIsBuriedAfterMaxAttempts(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ps := &panickingStore{poison: "user0"}
		h := newHarness(t, func(c *notify.Config) {
			ps.Store = c.Store
			c.Store = ps
			c.Retry.MaxAttempts = 3
		})
		ids := smsUsers(t, h, 2)
		ps.on.Store(true) // on the deliver side
		h.run(t)
		for phone, id := range ids {
			ds := h.settle(t, id)
			if phone == "+15005550000" {
				assert.Equal(t, notify.StatusDead, ds[0].Status)
				assert.Contains(t, ds[0].Reason, "gave up after 3 attempts")
				continue
			}
			assert.Equal(t, notify.StatusSent, ds[0].Status)
		}
		assert.EqualValues(t, 3, ps.calls.Load())
		st, err := h.queue.Stats(t.Context(), "notify.sms")
		require.NoError(t, err)
		assert.Equal(t, notify.QueueStats{Dead: 1}, st)
	})
}

// panicOnceTracer is a TracerProvider whose tracer panics on the first
// delivery span it is asked to start.
type panicOnceTracer struct {
	noop.TracerProvider
	done atomic.Bool
}

func (p *panicOnceTracer) Tracer(string, ...trace.TracerOption) trace.Tracer {
	return panicOnceTracerT{p: p}
}

type panicOnceTracerT struct {
	noop.Tracer
	p *panicOnceTracer
}

func (t panicOnceTracerT) Start(ctx context.Context, name string, opts ...trace.SpanStartOption) (context.Context, trace.Span) {
	if name == notify.SpanDeliver && t.p.done.CompareAndSwap(false, true) {
		panic("tracer bug")
	}
	return t.Tracer.Start(ctx, name, opts...)
}

// A panic between the start of a Channel call's watch and its end (here
// in a tracer) leaves no watch behind: the watchdog does not abandon a
// call that is not running, so the worker's slot is not freed twice, no
// extra worker is started, and the channel keeps delivering. Run stops
// cleanly.
func TestPanicAroundTheChannelCallLeavesNoWatch(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var abandoned atomic.Int64
		h := newHarness(t, func(c *notify.Config) {
			c.TracerProvider = &panicOnceTracer{}
			c.Workers = map[string]int{notify.ChannelSMS: 1}
			c.Logger = slog.New(countingHandler{Handler: slog.DiscardHandler, substr: "abandoning", n: &abandoned})
		})
		ids := smsUsers(t, h, 1) // the worker is idle while the lease runs out
		stop := h.run(t)
		for _, id := range ids {
			ds := h.settle(t, id)
			assert.Equal(t, notify.StatusSent, ds[0].Status)
			assert.Equal(t, 1, h.ch[notify.ChannelSMS].CallCount(ds[0].DeliveryID))
		}
		stop()
		assert.Zero(t, abandoned.Load(), "a call that was not running was abandoned")
	})
}

// firstLogAt records when a message containing substr was first logged.
type firstLogAt struct {
	slog.Handler
	substr string
	mu     sync.Mutex
	at     time.Time
}

func (h *firstLogAt) Handle(ctx context.Context, r slog.Record) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.at.IsZero() && strings.Contains(r.Message, h.substr) {
		h.at = r.Time
	}
	return nil
}

func (h *firstLogAt) Enabled(context.Context, slog.Level) bool { return true }
func (h *firstLogAt) WithAttrs([]slog.Attr) slog.Handler       { return h }
func (h *firstLogAt) WithGroup(string) slog.Handler            { return h }

func (h *firstLogAt) first() time.Time {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.at
}

// On a queue that cannot extend leases, a sent outcome whose log write
// keeps failing is retried only until the lease ends, then reported as
// maybe sent twice: past it the redelivery may be sending already.
func TestSentLogRetriesStopAtTheLeaseWhenItCannotBeExtended(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		q := qmem.New(qmem.Config{Visibility: 10 * time.Second})
		fs := &faultStore{}
		fs.failSent.Store(1 << 30)
		lh := &firstLogAt{Handler: slog.DiscardHandler, substr: "could not log a sent delivery"}
		h := newHarness(t, func(c *notify.Config) {
			c.Queue = plainQueue{q}
			fs.Store = c.Store
			c.Store = fs
			c.SendTimeout = time.Second
			c.Logger = slog.New(lh)
		})
		h.queue = q
		smsUsers(t, h, 1)
		start := time.Now()
		h.run(t)
		time.Sleep(15 * time.Second)
		synctest.Wait()
		at := lh.first()
		require.False(t, at.IsZero(), "the lease ended and the log write was still retried")
		assert.LessOrEqual(t, at.Sub(start), 10*time.Second)
	})
}

// A Channel call cut by Run's shutdown and abandoned is recorded as such,
// not as a call that outlived its own deadline.
func TestCallAbandonedAtShutdownSaysShutdown(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		release := make(chan struct{})
		var in atomic.Int64
		fake := notifytest.NewChannel(notify.ChannelSMS)
		fake.OnSend(func(d *notify.Delivery) (notify.Result, error) {
			in.Add(1)
			<-release // ignores its context
			return notify.Result{}, nil
		})
		h := newHarness(t, func(c *notify.Config) {
			c.Channels = []notify.Channel{fake}
			c.ShutdownGrace = 2 * time.Second
		})
		ids := smsUsers(t, h, 1)
		stop := h.run(t)
		time.Sleep(time.Second)
		synctest.Wait()
		require.EqualValues(t, 1, in.Load())
		start := time.Now()
		stop()
		assert.LessOrEqual(t, time.Since(start), 3*time.Second)
		for _, id := range ids {
			ds, err := h.d.Status(t.Context(), id)
			require.NoError(t, err)
			assert.Equal(t, notify.StatusRetrying, ds[0].Status)
			assert.Contains(t, ds[0].Reason, "canceled by shutdown")
		}
		close(release)
		synctest.Wait()
	})
}

// A sent outcome whose log write keeps failing past its lease (which this
// queue cannot extend): the job comes back to the same Run, which logs
// the outcome it remembers instead of calling the channel again.
func TestLapsedSentOutcomeIsLoggedNotSentAgain(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		q := qmem.New(qmem.Config{Visibility: 10 * time.Second})
		fs := &faultStore{}
		fs.failSent.Store(1 << 30)
		h := newHarness(t, func(c *notify.Config) {
			c.Queue = plainQueue{q}
			fs.Store = c.Store
			c.Store = fs
			c.SendTimeout = time.Second
		})
		h.queue = q
		ids := smsUsers(t, h, 1)
		h.run(t)
		time.Sleep(15 * time.Second) // past the lease (10s): its retries gave up
		synctest.Wait()
		fs.failSent.Store(0)
		sentOnce(t, h, ids, "sent again after its lease lapsed")
		assert.EqualValues(t, 1, fs.records.Load(), "sent logged once")
	})
}

// holeSent is a Store whose Records of a sent event block until their
// context ends while on is set: a log write that hangs (a slow or
// partitioned database) rather than fails.
type holeSent struct {
	notify.Store
	on atomic.Bool
}

func (s *holeSent) Record(ctx context.Context, evs ...notify.Event) error {
	for _, e := range evs {
		if e.Status == notify.StatusSent && s.on.Load() {
			<-ctx.Done()
			return ctx.Err()
		}
	}
	return s.Store.Record(ctx, evs...)
}

// The lease lapses during the first write of a sent outcome (the write's
// bound, BackendTimeout, is longer than what is left of the lease after
// the send): the redelivery to the same Run must find the outcome and log
// it, not send again, whether or not the queue can extend leases.
func TestLeaseLapsingDuringTheFirstSentWriteIsNotSentAgain(t *testing.T) {
	for _, extend := range []bool{false, true} {
		t.Run(fmt.Sprintf("extend=%v", extend), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				fs := &holeSent{}
				fs.on.Store(true)
				h := leaseHarness(t, extend, 3*time.Second, func(c *notify.Config) {
					fs.Store = c.Store
					c.Store = fs
					c.BackendTimeout = 7 * time.Second
				})
				ids := smsUsers(t, h, 1)
				h.run(t)
				time.Sleep(5 * time.Second) // the lease (3s) lapsed during the write
				synctest.Wait()
				fs.on.Store(false)
				sentOnce(t, h, ids, "sent again after its lease lapsed during the first write")
			})
		})
	}
}

// sentOnce settles the one notification of ids and checks that its one
// delivery was sent, with one call to the SMS channel (msg says what a
// second call means).
func sentOnce(t *testing.T, h *harness, ids map[string]string, msg string) {
	t.Helper()
	var id string
	for _, id = range ids { // the one notification
	}
	ds := h.settle(t, id)
	require.Len(t, ds, 1)
	assert.Equal(t, notify.StatusSent, ds[0].Status)
	assert.Equal(t, 1, h.ch[notify.ChannelSMS].CallCount(ds[0].DeliveryID), msg)
}

// leaseHarness is a harness on a memory queue whose leases last vis, which
// Run sees as a plain Queue (no LeaseExtender) unless extend, with a
// SendTimeout of 1s; more adjusts the Config further.
func leaseHarness(t *testing.T, extend bool, vis time.Duration, more func(*notify.Config)) *harness {
	t.Helper()
	q := qmem.New(qmem.Config{Visibility: vis})
	h := newHarness(t, func(c *notify.Config) {
		c.Queue = q
		if !extend {
			c.Queue = plainQueue{q}
		}
		c.SendTimeout = time.Second
		more(c)
	})
	h.queue = q
	return h
}
