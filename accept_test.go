package notify_test

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gonotify/notify"
	dmem "github.com/gonotify/notify/dedup/memory"
	"github.com/gonotify/notify/notifytest"
)

// These tests pin Send's promise: a caller that retries a failed Send with
// the same EventID until it succeeds ends with exactly one set of
// deliveries, whatever failed and wherever.

// lostReplyQueue enqueues, then reports an error, as when a commit's reply
// is lost: the jobs are stored but the caller cannot know it.
type lostReplyQueue struct {
	notify.Queue
	lose atomic.Int32 // how many Enqueues still lose their reply
}

func (q *lostReplyQueue) Enqueue(ctx context.Context, jobs ...notify.Job) error {
	err := q.Queue.Enqueue(ctx, jobs...)
	if err == nil && q.lose.Add(-1) >= 0 {
		return errors.New("connection reset by peer")
	}
	return err
}

// failingEnqueue stores nothing and fails with err.
type failingEnqueue struct {
	notify.Queue
	err error // nil: Enqueue works
}

func (q *failingEnqueue) Enqueue(ctx context.Context, jobs ...notify.Job) error {
	if q.err != nil {
		return q.err
	}
	return q.Queue.Enqueue(ctx, jobs...)
}

func TestLostEnqueueReplyRetriedSendsOnce(t *testing.T) {
	h := newHarness(t)
	h.contact(t, ana)
	q := &lostReplyQueue{Queue: h.queue}
	q.lose.Store(1)
	cfg := h.cfg
	cfg.Queue = q
	d, err := notify.New(cfg)
	require.NoError(t, err)

	_, err = d.Send(t.Context(), welcome("lost-reply"))
	require.Error(t, err)
	assert.NotErrorIs(t, err, notify.ErrNotQueued, "the jobs may be queued: the error must not say they are not")

	r, err := d.Send(t.Context(), welcome("lost-reply"))
	require.NoError(t, err, "the retry is answered from the log")
	assert.True(t, r.Duplicate)
	require.Len(t, r.Deliveries, 4)

	h.run(t)
	for _, s := range h.settle(t, r.NotificationID) {
		assert.Equal(t, notify.StatusSent, s.Status, s.Channel)
		assert.Equal(t, 1, h.ch[s.Channel].SentCount(s.DeliveryID), "%s sent once", s.Channel)
	}
}

func TestFailedEnqueueIsRepairedByTheRetry(t *testing.T) {
	// The log says queued, the queue never got the jobs, and the caller
	// cannot tell: the retry enqueues them again.
	h := newHarness(t)
	h.contact(t, ana)
	cfg := h.cfg
	cfg.Queue = &failingEnqueue{h.queue, errors.New("disk full")}
	broken, err := notify.New(cfg)
	require.NoError(t, err)
	first, err := broken.Send(t.Context(), welcome("e2"))
	require.ErrorContains(t, err, "disk full")
	assert.NotErrorIs(t, err, notify.ErrNotQueued)
	assert.Empty(t, first.NotificationID)
	assertNothingStored(t, h)

	r, err := h.d.Send(t.Context(), welcome("e2"))
	require.NoError(t, err)
	assert.True(t, r.Duplicate)
	require.Len(t, r.Deliveries, 4)
	h.run(t)
	for _, s := range h.settle(t, r.NotificationID) {
		assert.Equal(t, notify.StatusSent, s.Status, s.Channel)
		assert.Equal(t, 1, h.ch[s.Channel].SentCount(s.DeliveryID))
	}
}

func TestQueueFullIsNotQueuedAndFreesTheEvent(t *testing.T) {
	h := newHarness(t)
	h.contact(t, ana)
	cfg := h.cfg
	cfg.Queue = &failingEnqueue{h.queue, notify.ErrQueueFull}
	full, err := notify.New(cfg)
	require.NoError(t, err)
	_, err = full.Send(t.Context(), welcome("e3"))
	require.ErrorIs(t, err, notify.ErrQueueFull)
	require.ErrorIs(t, err, notify.ErrNotQueued)

	r, err := h.d.Send(t.Context(), welcome("e3"))
	require.NoError(t, err)
	assert.False(t, r.Duplicate, "the event ID was freed")
	assert.Len(t, r.Deliveries, 4)
}

// flakyDeduper writes a claim and then reports an error (a lost reply),
// and fails every Release.
type flakyDeduper struct {
	notify.Deduper
	failClaims, failReleases atomic.Int32
}

func (f *flakyDeduper) Claim(ctx context.Context, key, owner string, ttl time.Duration) (bool, string, error) {
	ok, holder, err := f.Deduper.Claim(ctx, key, owner, ttl)
	if err == nil && f.failClaims.Add(-1) >= 0 {
		return false, "", errors.New("i/o timeout")
	}
	return ok, holder, err
}

func (f *flakyDeduper) Release(ctx context.Context, key, owner string) error {
	if f.failReleases.Add(-1) >= 0 {
		return errors.New("connection refused")
	}
	return f.Deduper.Release(ctx, key, owner)
}

func TestClaimErrorWithFailedReleaseIsTakenOverByTheRetry(t *testing.T) {
	dd := &flakyDeduper{Deduper: dmem.New(dmem.Config{})}
	dd.failClaims.Store(1)
	dd.failReleases.Store(1)
	h := newHarness(t, func(c *notify.Config) { c.Deduper = dd })
	h.contact(t, ana)
	_, err := h.d.Send(t.Context(), welcome("e4"))
	require.ErrorContains(t, err, "i/o timeout")
	assert.NotErrorIs(t, err, notify.ErrNotQueued, "the claim could not be released")

	// The claim survived its failed release. The retry in this process
	// knows its holder failed and takes it over at once (by Release then
	// Claim; Release works again now).
	r, err := h.d.Send(t.Context(), welcome("e4"))
	require.NoError(t, err, "the retry takes the dead claim over")
	assert.False(t, r.Duplicate)
	assert.Len(t, r.Deliveries, 4)
}

// sharedStore hides store/memory's ProcessLocal: it stands for a Store
// that every process shares (PostgreSQL).
type sharedStore struct{ notify.Store }

func TestStaleUnloggedClaimIsTakenOver(t *testing.T) {
	for _, tc := range []struct {
		name   string
		shared bool
		age    time.Duration
		want   string // "in progress", "taken over", "duplicate"
	}{
		{"fresh", true, time.Second, "in progress"},
		{"within the window", true, notify.InProgressWindow / 2, "in progress"},
		{"a dead Send's", true, notify.InProgressWindow + time.Second, "taken over"},
		{"older than TakeoverWindow: the log may be pruned", true, notify.TakeoverWindow + time.Minute, "duplicate"},
		{"memory store: logged elsewhere or evicted", false, notify.InProgressWindow + time.Second, "duplicate"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, func(c *notify.Config) {
				if tc.shared {
					c.Store = sharedStore{c.Store}
				}
			})
			holder := uuidV7At(time.Now().Add(-tc.age))
			ok, _, err := h.cfg.Deduper.Claim(t.Context(), holder, holder, time.Hour)
			require.NoError(t, err)
			require.True(t, ok)
			n := notify.Notification{EventID: holder, To: []notify.Address{{Channel: "sms", Value: "+1"}}, Content: &notify.Message{Body: "x"}}
			r, err := h.d.Send(t.Context(), n)
			switch tc.want {
			case "in progress":
				require.ErrorIs(t, err, notify.ErrInProgress)
				assertNothingStored(t, h)
			case "taken over":
				require.NoError(t, err)
				assert.False(t, r.Duplicate)
				assert.NotEqual(t, holder, r.NotificationID)
				assert.Len(t, r.Deliveries, 1)
			case "duplicate":
				require.NoError(t, err)
				assert.True(t, r.Duplicate)
				assert.Equal(t, holder, r.NotificationID)
				assert.Empty(t, r.Deliveries)
				assertNothingStored(t, h)
			}
		})
	}
}

// sharedDeduper hides dedup/memory's ProcessLocal: it stands for a Deduper
// that many processes share (Redis) while each has its own memory Store.
type sharedDeduper struct{ notify.Deduper }

func TestStaleClaimIsNotTakenOverWhenTheLogIsNotShared(t *testing.T) {
	h := newHarness(t, func(c *notify.Config) { c.Deduper = sharedDeduper{c.Deduper} })
	holder := uuidV7At(time.Now().Add(-2 * notify.InProgressWindow))
	ok, _, err := h.cfg.Deduper.Claim(t.Context(), holder, holder, time.Hour)
	require.NoError(t, err)
	require.True(t, ok)
	n := notify.Notification{EventID: holder, To: []notify.Address{{Channel: "sms", Value: "+1"}}, Content: &notify.Message{Body: "x"}}
	r, err := h.d.Send(t.Context(), n)
	require.NoError(t, err, "another process may have logged it in its own Store")
	assert.True(t, r.Duplicate)
	assertNothingStored(t, h)
}

// sqsLikeQueue makes a second job of an ID enqueued again, as an SQS
// standard queue does, and says so; it counts Enqueue calls.
type sqsLikeQueue struct {
	notify.Queue
	calls atomic.Int32
}

func (q *sqsLikeQueue) Enqueue(ctx context.Context, jobs ...notify.Job) error {
	q.calls.Add(1)
	return q.Queue.Enqueue(ctx, jobs...)
}

func (q *sqsLikeQueue) EnqueueIsIdempotent() bool { return false }

func TestRepeatIsNotEnqueuedAgainWhereEnqueueIsNotIdempotent(t *testing.T) {
	q := &sqsLikeQueue{}
	h := newHarness(t, func(c *notify.Config) { q.Queue = c.Queue; c.Queue = q })
	h.contact(t, ana)
	_, err := h.d.Send(t.Context(), welcome("again"))
	require.NoError(t, err)
	r, err := h.d.Send(t.Context(), welcome("again"))
	require.NoError(t, err)
	assert.True(t, r.Duplicate)
	assert.EqualValues(t, 1, q.calls.Load(), "a plain repeat must not enqueue the still-queued original again")
}

func TestQueueFullThenFailedReleaseIsTakenOverByTheRetry(t *testing.T) {
	dd := &flakyDeduper{Deduper: dmem.New(dmem.Config{})}
	dd.failReleases.Store(1)
	full := &failingEnqueue{err: notify.ErrQueueFull}
	h := newHarness(t, func(c *notify.Config) { c.Deduper = dd; full.Queue = c.Queue; c.Queue = full })
	h.contact(t, ana)
	_, err := h.d.Send(t.Context(), welcome("full"))
	require.ErrorIs(t, err, notify.ErrQueueFull)
	assert.NotErrorIs(t, err, notify.ErrNotQueued, "the claim could not be released")

	full.err = nil // the queue drained
	r, err := h.d.Send(t.Context(), welcome("full"))
	require.NoError(t, err)
	assert.False(t, r.Duplicate, "an original that never reached the queue is not an answer")
	assert.Len(t, r.Deliveries, 4)
}

func TestNoAddressIsLoggedAndARepeatIsADuplicate(t *testing.T) {
	h := newHarness(t)
	n := notify.Notification{EventID: "nobody", UserID: "ghost", Template: "welcome", Data: map[string]any{"name": "x"}}
	r, err := h.d.Send(t.Context(), n)
	require.NoError(t, err)
	assert.Empty(t, r.Deliveries)
	ds, err := h.d.Status(t.Context(), r.NotificationID)
	require.NoError(t, err, "Status shows a notification that reached nobody")
	require.NotEmpty(t, ds)
	for _, s := range ds {
		assert.Equal(t, notify.StatusSkipped, s.Status)
		assert.Equal(t, notify.ReasonNoAddress, s.Reason)
	}
	again, err := h.d.Send(t.Context(), n)
	require.NoError(t, err, "a repeat is a prompt duplicate, not ErrInProgress")
	assert.True(t, again.Duplicate)
	assert.Equal(t, r.NotificationID, again.NotificationID)
}

// e164Channel rejects phone numbers without a leading + (as channel/sms does).
type e164Channel struct{ *notifytest.Channel }

func (c e164Channel) Validate(d *notify.Delivery) error {
	if !strings.HasPrefix(d.Address, "+") {
		return &notify.ValidationError{Field: notify.FieldAddress, Reason: "not E.164"}
	}
	d.Units = 2
	return nil
}

// withE164SMS puts e164Channel in place of the harness's SMS channel.
func withE164SMS(c *notify.Config) {
	for i, ch := range c.Channels {
		if ch.Name() == notify.ChannelSMS {
			c.Channels[i] = e164Channel{ch.(*notifytest.Channel)}
		}
	}
}

// skippedSMS checks that r, a Send to a user's stored addresses, skipped
// the SMS as an invalid address, in the Receipt and in the log, and
// returns the reason the log holds.
func skippedSMS(t *testing.T, h *harness, r notify.Receipt) string {
	t.Helper()
	assert.Contains(t, r.Skipped, notify.Skip{Channel: notify.ChannelSMS, Reason: notify.ReasonInvalidAddress})
	ds, err := h.d.Status(t.Context(), r.NotificationID)
	require.NoError(t, err)
	var reasons []string
	for _, s := range ds {
		if s.Channel == notify.ChannelSMS {
			assert.Equal(t, notify.StatusSkipped, s.Status)
			reasons = append(reasons, s.Reason)
		}
	}
	require.Len(t, reasons, 1, "SMS deliveries")
	return reasons[0]
}

func TestStoredBadAddressIsSkippedAndOtherChannelsDeliver(t *testing.T) {
	h := newHarness(t, withE164SMS)
	bad := ana
	bad.Phone = "4155550100"
	h.contact(t, bad)
	r, err := h.d.Send(t.Context(), welcome("reset"))
	require.NoError(t, err, "a malformed stored phone number must not block email and push")
	assert.Len(t, r.Deliveries, 3)
	reason := skippedSMS(t, h, r)
	assert.True(t, strings.HasPrefix(reason, notify.ReasonInvalidAddress), reason)

	// The caller's own bad address fails the Send, naming it.
	_, err = h.d.Send(t.Context(), notify.Notification{
		To:      []notify.Address{{Channel: "email", Value: "a@example.com"}, {Channel: "sms", Value: "4155550100"}},
		Content: &notify.Message{Body: "x", Subject: "x", Text: "x"},
	})
	var ve *notify.ValidationError
	require.ErrorAs(t, err, &ve)
	assert.Equal(t, "To[1].Value", ve.Field)
	require.ErrorIs(t, err, notify.ErrNotQueued)

	// Units set by the Validator reach the Receipt.
	ok, err := h.d.Send(t.Context(), notify.Notification{To: []notify.Address{{Channel: "sms", Value: "+14155550100"}}, Content: &notify.Message{Body: "x"}})
	require.NoError(t, err)
	require.Len(t, ok.Deliveries, 1)
	assert.Equal(t, 2, ok.Deliveries[0].Units)
}

func TestPutContactRejectsWhatSendWouldReject(t *testing.T) {
	h := newHarness(t, withE164SMS)
	bad := ana
	bad.Phone = "4155550100"
	err := h.d.PutContact(t.Context(), bad)
	var ve *notify.ValidationError
	require.ErrorAs(t, err, &ve)
	assert.Equal(t, "Phone", ve.Field)
	_, err = h.store.Contact(t.Context(), "ana")
	require.ErrorIs(t, err, notify.ErrNotFound, "nothing stored")

	bad = ana
	bad.TimeZone = "Mars/Olympus"
	require.ErrorAs(t, h.d.PutContact(t.Context(), bad), &ve)
	assert.Equal(t, "TimeZone", ve.Field)

	require.NoError(t, h.d.PutContact(t.Context(), ana))
	got, err := h.store.Contact(t.Context(), "ana")
	require.NoError(t, err)
	assert.Equal(t, ana.Phone, got.Phone)
}

// slowContacts takes its time to answer Contact, as a loaded database may.
type slowContacts struct {
	notify.Store
	delay time.Duration
}

func (s slowContacts) Contact(ctx context.Context, userID string) (notify.Contact, error) {
	time.Sleep(s.delay)
	return s.Store.Contact(ctx, userID)
}

func TestSlowPlanIsClaimedUnderAFreshID(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t, func(c *notify.Config) { c.Store = slowContacts{c.Store, 2 * time.Second} })
		h.contact(t, ana)
		start := time.Now()
		r, err := h.d.Send(t.Context(), welcome("slow"))
		require.NoError(t, err)
		sec, nsec := uuid.MustParse(r.NotificationID).Time().UnixTime()
		assert.False(t, time.Unix(sec, nsec).Before(start.Add(2*time.Second).Truncate(time.Millisecond)),
			"the claim's owner is stamped when it is claimed, not when planning began")
		ds, err := h.d.Status(t.Context(), r.NotificationID)
		require.NoError(t, err)
		assert.Len(t, ds, 4, "the log follows the new ID")
	})
}
