package notify_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gonotify/notify"
)

// limitCall is one Allow a recordingLimiter saw, with its answer.
type limitCall struct {
	req notify.LimitRequest
	dec notify.Decision
	err error
}

// recordingLimiter records every Allow, and fails them while fail is set.
type recordingLimiter struct {
	notify.Limiter
	mu    sync.Mutex
	calls []limitCall
	fail  bool
}

func (r *recordingLimiter) Allow(ctx context.Context, req notify.LimitRequest) (notify.Decision, error) {
	r.mu.Lock()
	fail := r.fail
	r.mu.Unlock()
	var dec notify.Decision
	var err error
	if fail {
		err = errors.New("limiter down")
	} else {
		dec, err = r.Limiter.Allow(ctx, req)
	}
	r.mu.Lock()
	r.calls = append(r.calls, limitCall{req, dec, err})
	r.mu.Unlock()
	return dec, err
}

// of returns the calls made for one notification and key suffix ("chat",
// or "*" for Config.UserLimit).
func (r *recordingLimiter) of(notificationID, category string) []limitCall {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []limitCall
	for _, c := range r.calls {
		if c.req.ID == notificationID && len(c.req.Key) > len(category) && c.req.Key[len(c.req.Key)-len(category)-1:] == "\x00"+category {
			out = append(out, c)
		}
	}
	return out
}

// fiveAddresses is ana with three devices, an email and a phone: five
// deliveries per notification.
var fiveAddresses = notify.Contact{
	UserID: "ana", Phone: "+15005550006", Email: "ana@example.com",
	Devices: []notify.Device{{Platform: notify.ChannelAPNs, Token: "apns-1"}, {Platform: notify.ChannelAPNs, Token: "apns-2"}, {Platform: notify.ChannelFCM, Token: "fcm-1"}},
}

// limiterModes runs f with the limiter asked one Allow per delivery, and
// with it a BatchLimiter (the Dispatcher then asks for a whole fetch).
func limiterModes(t *testing.T, f func(t *testing.T, wrap func(notify.Limiter) notify.Limiter)) {
	t.Run("Allow", func(t *testing.T) { f(t, func(l notify.Limiter) notify.Limiter { return l }) })
	t.Run("AllowBatch", func(t *testing.T) {
		f(t, func(l notify.Limiter) notify.Limiter { return &batchLimiter{Limiter: l} })
	})
}

// assertBatched checks that a BatchLimiter was asked for whole fetches.
func assertBatched(t *testing.T, h *harness) {
	t.Helper()
	if bl, ok := h.cfg.Limiter.(*batchLimiter); ok {
		assert.Positive(t, bl.batches.Load(), "AllowBatch was never called")
	}
}

// limitedHarness is a harness whose Limiter records its calls, with mod
// applied to the Config.
func limitedHarness(t *testing.T, wrap func(notify.Limiter) notify.Limiter, mod func(*notify.Config)) (*harness, *recordingLimiter) {
	t.Helper()
	var rec *recordingLimiter
	h := newHarness(t, func(c *notify.Config) {
		rec = &recordingLimiter{Limiter: c.Limiter}
		c.Limiter = wrap(rec)
		mod(c)
	})
	h.contact(t, fiveAddresses)
	return h, rec
}

func sendTo(t *testing.T, h *harness, eventID, category string, critical bool) notify.Receipt {
	t.Helper()
	n := welcome(eventID)
	n.Category, n.Critical = category, critical
	r, err := h.d.Send(t.Context(), n)
	require.NoError(t, err)
	require.Len(t, r.Deliveries, 5)
	return r
}

// statuses counts a notification's deliveries by status.
func statuses(t *testing.T, h *harness, notificationID string) map[notify.Status]int {
	t.Helper()
	ds, err := h.d.Status(t.Context(), notificationID)
	require.NoError(t, err)
	out := map[notify.Status]int{}
	for _, d := range ds {
		out[d.Status]++
	}
	return out
}

func sentCount(h *harness) int {
	n := 0
	for _, c := range h.ch {
		n += len(c.Sent())
	}
	return n
}

// TestCategoryLimitCountsNotifications: under "3 per day", one
// notification to five addresses spends one event; three go out whole,
// and the fourth waits (or is dropped) whole.
func TestCategoryLimitCountsNotifications(t *testing.T) {
	limiterModes(t, func(t *testing.T, wrap func(notify.Limiter) notify.Limiter) {
		for _, policy := range []notify.OverLimit{notify.OverLimitDefer, notify.OverLimitDrop} {
			name := map[notify.OverLimit]string{notify.OverLimitDefer: "defer", notify.OverLimitDrop: "drop"}[policy]
			t.Run(name, func(t *testing.T) {
				synctest.Test(t, func(t *testing.T) {
					h, rec := limitedHarness(t, wrap, func(c *notify.Config) {
						c.Categories = map[string]notify.CategoryPolicy{"chat": {Limit: notify.Limit{Rate: 3, Per: 24 * time.Hour}, OverLimit: policy}}
					})
					h.run(t)
					first := sendTo(t, h, "e1", "chat", false)
					synctest.Wait()
					assert.Equal(t, 5, sentCount(h), "one notification reaches all five addresses")
					calls := rec.of(first.NotificationID, "chat")
					require.NotEmpty(t, calls, "the category limit was asked, with the notification's ID")
					for _, c := range calls {
						require.NoError(t, c.err)
						assert.True(t, c.dec.Allowed)
						assert.Equal(t, 2, c.dec.Remaining, "one notification spent one event of 3 per day")
					}

					var rs []notify.Receipt
					for _, e := range []string{"e2", "e3", "e4"} {
						rs = append(rs, sendTo(t, h, e, "chat", false))
						synctest.Wait()
					}
					assert.Equal(t, 15, sentCount(h), "three notifications whole")
					assertBatched(t, h)
					fourth := rs[2].NotificationID
					if policy == notify.OverLimitDrop {
						assert.Equal(t, map[notify.Status]int{notify.StatusSkipped: 5}, statuses(t, h, fourth), "the fourth is dropped whole")
						for _, d := range h.settle(t, fourth) {
							assert.Equal(t, notify.ReasonRateLimit, d.Reason)
						}
						return
					}
					assert.Equal(t, map[notify.Status]int{notify.StatusDeferred: 5}, statuses(t, h, fourth), "the fourth waits whole")
					// One every 8h once the burst is spent: all five go out
					// then, and spend one event.
					time.Sleep(8*time.Hour - time.Minute)
					synctest.Wait()
					assert.Equal(t, 15, sentCount(h), "not before the limit allows")
					time.Sleep(2 * time.Minute)
					synctest.Wait()
					assert.Equal(t, map[notify.Status]int{notify.StatusSent: 5}, statuses(t, h, fourth), "the fourth goes out whole")
					assert.Equal(t, 20, sentCount(h))
					counted := 0
					for _, c := range rec.of(fourth, "chat") {
						if c.dec.Allowed {
							counted++
							assert.Equal(t, 0, c.dec.Remaining, "the fourth spent one event")
						}
					}
					assert.Equal(t, 5, counted, "each delivery asked once more and was allowed")
				})
			})
		}
	})
}

// TestUserLimitAcrossCategories: Config.UserLimit caps a user's
// notifications across categories, each counted once; a category's own
// limit applies too.
func TestUserLimitAcrossCategories(t *testing.T) {
	limiterModes(t, func(t *testing.T, wrap func(notify.Limiter) notify.Limiter) {
		synctest.Test(t, func(t *testing.T) {
			h, rec := limitedHarness(t, wrap, func(c *notify.Config) {
				c.Categories = map[string]notify.CategoryPolicy{"chat": {Limit: notify.Limit{Rate: 10, Per: time.Hour}}}
				c.UserLimit = notify.Limit{Rate: 2, Per: time.Hour}
				c.UserOverLimit = notify.OverLimitDrop
			})
			h.run(t)
			a := sendTo(t, h, "e1", "chat", false)
			synctest.Wait()
			b := sendTo(t, h, "e2", "news", false)
			synctest.Wait()
			assert.Equal(t, 10, sentCount(h), "two notifications in two categories, whole")
			for _, c := range rec.of(b.NotificationID, "*") {
				assert.Equal(t, 0, c.dec.Remaining, "two notifications spent two events of UserLimit")
			}
			third := sendTo(t, h, "e3", "chat", false)
			synctest.Wait()
			assert.Equal(t, 10, sentCount(h), "the third notification is over UserLimit")
			assertBatched(t, h)
			for _, d := range h.settle(t, third.NotificationID) {
				assert.Equal(t, notify.StatusSkipped, d.Status)
				assert.Equal(t, notify.ReasonUserLimit, d.Reason)
			}
			// The category limit counted each chat notification once.
			for _, c := range rec.of(a.NotificationID, "chat") {
				assert.Equal(t, 9, c.dec.Remaining)
			}
			assert.Empty(t, rec.of(b.NotificationID, "news"), "news has no category limit to ask")
		})
	})
}

// TestUserLimitCountsCritical: a Critical notification is counted against
// Config.UserLimit but never held back by it, not even by a failing
// Limiter; the notifications after it wait for it too.
func TestUserLimitCountsCritical(t *testing.T) {
	limiterModes(t, func(t *testing.T, wrap func(notify.Limiter) notify.Limiter) {
		synctest.Test(t, func(t *testing.T) {
			h, rec := limitedHarness(t, wrap, func(c *notify.Config) {
				c.UserLimit = notify.Limit{Rate: 1, Per: time.Hour}
			})
			h.run(t)
			sendTo(t, h, "e1", "chat", false)
			synctest.Wait()
			crit := sendTo(t, h, "e2", "security", true)
			synctest.Wait()
			assert.Equal(t, map[notify.Status]int{notify.StatusSent: 5}, statuses(t, h, crit.NotificationID), "critical over UserLimit: sent")
			calls := rec.of(crit.NotificationID, "*")
			require.NotEmpty(t, calls)
			for _, c := range calls {
				assert.True(t, c.req.Force, "critical is forced through UserLimit")
			}

			next := sendTo(t, h, "e3", "chat", false)
			synctest.Wait()
			assert.Equal(t, map[notify.Status]int{notify.StatusDeferred: 5}, statuses(t, h, next.NotificationID))
			// Counted: the next waits two intervals, not one.
			time.Sleep(time.Hour + time.Minute)
			synctest.Wait()
			assert.Equal(t, map[notify.Status]int{notify.StatusDeferred: 5}, statuses(t, h, next.NotificationID), "the critical notification was not counted")
			time.Sleep(time.Hour)
			synctest.Wait()
			assert.Equal(t, map[notify.Status]int{notify.StatusSent: 5}, statuses(t, h, next.NotificationID))

			// A failing Limiter defers the others, never a critical one.
			rec.mu.Lock()
			rec.fail = true
			rec.mu.Unlock()
			crit2 := sendTo(t, h, "e4", "security", true)
			plain := sendTo(t, h, "e5", "chat", false)
			synctest.Wait()
			assert.Equal(t, map[notify.Status]int{notify.StatusSent: 5}, statuses(t, h, crit2.NotificationID), "critical, limiter down: sent")
			assert.Equal(t, map[notify.Status]int{notify.StatusQueued: 5}, statuses(t, h, plain.NotificationID), "limiter down: waits")
			rec.mu.Lock()
			rec.fail = false
			rec.mu.Unlock()
			time.Sleep(5 * time.Hour)
			synctest.Wait()
			assert.Equal(t, map[notify.Status]int{notify.StatusSent: 5}, statuses(t, h, plain.NotificationID))
		})
	})
}

// TestUserLimitNotSpentByCategoryDenials: a notification its category's
// limit holds back is not counted against Config.UserLimit.
func TestUserLimitNotSpentByCategoryDenials(t *testing.T) {
	limiterModes(t, func(t *testing.T, wrap func(notify.Limiter) notify.Limiter) {
		synctest.Test(t, func(t *testing.T) {
			h, _ := limitedHarness(t, wrap, func(c *notify.Config) {
				c.Categories = map[string]notify.CategoryPolicy{"chat": {Limit: notify.Limit{Rate: 1, Per: 24 * time.Hour}, OverLimit: notify.OverLimitDrop}}
				c.UserLimit = notify.Limit{Rate: 3, Per: 24 * time.Hour}
				c.UserOverLimit = notify.OverLimitDrop
			})
			h.run(t)
			var ids []string
			for _, e := range []string{"c1", "c2", "c3", "n1", "n2", "n3"} {
				cat := "chat"
				if e[0] == 'n' {
					cat = "news"
				}
				ids = append(ids, sendTo(t, h, e, cat, false).NotificationID)
				synctest.Wait()
			}
			want := []map[notify.Status]int{
				{notify.StatusSent: 5}, {notify.StatusSkipped: 5}, {notify.StatusSkipped: 5}, // chat: one a day
				{notify.StatusSent: 5}, {notify.StatusSent: 5}, {notify.StatusSkipped: 5}, // news: the rest of UserLimit
			}
			for i, id := range ids {
				assert.Equal(t, want[i], statuses(t, h, id), "notification %d", i+1)
			}
			assertBatched(t, h)
		})
	})
}
