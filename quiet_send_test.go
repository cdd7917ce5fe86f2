package notify_test

import (
	"context"
	"errors"
	"strconv"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gonotify/notify"
)

// Every test here runs in a synctest bubble whose clock is moved to the
// evening of a chosen day, so that waiting out a night's quiet hours takes
// no real time.

// sleepUntil moves the bubble's clock to at.
func sleepUntil(t *testing.T, at time.Time) {
	t.Helper()
	d := time.Until(at)
	require.Positive(t, d, "the bubble's clock is past %s", at)
	time.Sleep(d)
}

var nightQuiet = &notify.QuietHours{Start: notify.ClockAt(22, 0), End: notify.ClockAt(7, 0)}

// quietSMS is a notification to user by SMS only.
func quietSMS(user string) notify.Notification {
	return notify.Notification{UserID: user, Channels: []string{"sms"}, Content: &notify.Message{Body: "hi"}}
}

// sentAt returns the time of the one delivery's sent event, checking that
// it was deferred for quiet hours first (when deferred is set) and sent
// with one attempt.
func sentAt(t *testing.T, ds []notify.DeliveryRecord, deferred bool) time.Time {
	t.Helper()
	require.Len(t, ds, 1)
	rec := ds[0]
	require.Equal(t, notify.StatusSent, rec.Status, "events: %+v", rec.Events)
	assert.Equal(t, 1, rec.Attempts, "waiting out quiet hours is not an attempt")
	var statuses []notify.Status
	for _, e := range rec.Events {
		statuses = append(statuses, e.Status)
		if e.Status == notify.StatusDeferred {
			assert.Equal(t, notify.ReasonQuietHours, e.Reason)
		}
	}
	if deferred {
		assert.Equal(t, []notify.Status{notify.StatusQueued, notify.StatusDeferred, notify.StatusSent}, statuses)
	} else {
		assert.Equal(t, []notify.Status{notify.StatusQueued, notify.StatusSent}, statuses)
	}
	return rec.Events[len(rec.Events)-1].At
}

// TestQuietHoursSendAtWindowEnd sends at 22:30 to users with quiet hours
// 22:00-07:00 in New York, on ordinary nights and on the nights the clocks
// change, and checks that each message goes out at 07:00 by the wall clock.
func TestQuietHoursSendAtWindowEnd(t *testing.T) {
	ny := zone(t, "America/New_York")
	for _, c := range []struct {
		name   string
		window *notify.QuietHours
		at     time.Time // when it is sent, in New York
		want   time.Time // when it goes out
	}{
		{"ordinary night", nightQuiet, time.Date(2000, 6, 10, 22, 30, 0, 0, ny), time.Date(2000, 6, 11, 7, 0, 0, 0, ny)},
		{"after midnight", nightQuiet, time.Date(2000, 6, 11, 5, 0, 0, 0, ny), time.Date(2000, 6, 11, 7, 0, 0, 0, ny)},
		// In 2000 New York sprang forward on 2 April and fell back on 29 October.
		{"spring forward", nightQuiet, time.Date(2000, 4, 1, 22, 30, 0, 0, ny), time.Date(2000, 4, 2, 7, 0, 0, 0, ny)},
		{"fall back", nightQuiet, time.Date(2000, 10, 28, 22, 30, 0, 0, ny), time.Date(2000, 10, 29, 7, 0, 0, 0, ny)},
		// 02:30 does not happen on 2 April 2000: the window ends when 02:00
		// EST becomes 03:00 EDT.
		{"end in the skipped hour", &notify.QuietHours{Start: notify.ClockAt(22, 0), End: notify.ClockAt(2, 30)},
			time.Date(2000, 4, 1, 23, 0, 0, 0, ny), time.Date(2000, 4, 2, 3, 0, 0, 0, ny)},
		// 01:30 happens twice on 29 October 2000: the first one ends the window.
		{"end in the repeated hour", &notify.QuietHours{Start: notify.ClockAt(22, 0), End: notify.ClockAt(1, 30)},
			time.Date(2000, 10, 28, 23, 0, 0, 0, ny), time.Date(2000, 10, 29, 5, 30, 0, 0, time.UTC)},
	} {
		t.Run(c.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				h := newHarness(t)
				h.contact(t, notify.Contact{UserID: "ana", Phone: "+15005550006", TimeZone: "America/New_York", QuietHours: c.window})
				sleepUntil(t, c.at)
				h.run(t)
				r, err := h.d.Send(t.Context(), quietSMS("ana"))
				require.NoError(t, err)
				synctest.Wait()
				assert.Empty(t, h.ch["sms"].Sent(), "sent within quiet hours")
				got := sentAt(t, h.settle(t, r.NotificationID), true)
				assert.True(t, got.Equal(c.want), "sent at %s, want %s", got.In(ny), c.want.In(ny))
			})
		})
	}
}

func TestQuietHoursCriticalIsSentAtOnce(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ny := zone(t, "America/New_York")
		h := newHarness(t)
		h.contact(t, notify.Contact{UserID: "ana", Phone: "+15005550006", TimeZone: "America/New_York", QuietHours: nightQuiet})
		at := time.Date(2000, 6, 10, 22, 30, 0, 0, ny)
		sleepUntil(t, at)
		h.run(t)
		n := quietSMS("ana")
		n.Critical = true
		r, err := h.d.Send(t.Context(), n)
		require.NoError(t, err)
		got := sentAt(t, h.settle(t, r.NotificationID), false)
		assert.True(t, got.Equal(at), "sent at %s", got.In(ny))
	})
}

// TestQuietHoursTimeZoneFallback reads quiet hours in Config.DefaultTimeZone
// for a contact with no time zone or one this machine does not know.
func TestQuietHoursTimeZoneFallback(t *testing.T) {
	lisbon := zone(t, "Europe/Lisbon")
	for _, tz := range []string{"", "Mars/Olympus_Mons"} {
		t.Run("zone "+strconv.Quote(tz), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				h := newHarness(t, func(c *notify.Config) { c.DefaultTimeZone = lisbon })
				// Through the Store: Dispatcher.PutContact rejects an unknown zone.
				h.contact(t, notify.Contact{UserID: "ana", Phone: "+15005550006", TimeZone: tz, QuietHours: nightQuiet})
				sleepUntil(t, time.Date(2000, 6, 10, 23, 0, 0, 0, lisbon))
				h.run(t)
				r, err := h.d.Send(t.Context(), quietSMS("ana"))
				require.NoError(t, err)
				got := sentAt(t, h.settle(t, r.NotificationID), true)
				want := time.Date(2000, 6, 11, 7, 0, 0, 0, lisbon)
				assert.True(t, got.Equal(want), "sent at %s, want %s", got.In(lisbon), want)
			})
		})
	}
	t.Run("UTC by default", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			h := newHarness(t)
			h.contact(t, notify.Contact{UserID: "ana", Phone: "+15005550006", QuietHours: nightQuiet})
			sleepUntil(t, time.Date(2000, 6, 10, 23, 0, 0, 0, time.UTC))
			h.run(t)
			r, err := h.d.Send(t.Context(), quietSMS("ana"))
			require.NoError(t, err)
			got := sentAt(t, h.settle(t, r.NotificationID), true)
			assert.True(t, got.Equal(time.Date(2000, 6, 11, 7, 0, 0, 0, time.UTC)), "sent at %s", got)
		})
	})
}

// TestQuietHoursCategoryDefault applies a category's quiet hours to users
// who set none, and not to one who set "none".
func TestQuietHoursCategoryDefault(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ny := zone(t, "America/New_York")
		h := newHarness(t, func(c *notify.Config) {
			c.Categories = map[string]notify.CategoryPolicy{"marketing": {QuietHours: *nightQuiet}}
		})
		h.contact(t, notify.Contact{UserID: "ana", Phone: "+15005550006", TimeZone: "America/New_York"})
		h.contact(t, notify.Contact{UserID: "bo", Phone: "+15005550007", TimeZone: "America/New_York", QuietHours: &notify.QuietHours{}})
		at := time.Date(2000, 6, 10, 22, 30, 0, 0, ny)
		sleepUntil(t, at)
		h.run(t)
		send := func(user, category string) string {
			n := quietSMS(user)
			n.Category = category
			r, err := h.d.Send(t.Context(), n)
			require.NoError(t, err)
			return r.NotificationID
		}
		ana, anaChat, bo := send("ana", "marketing"), send("ana", "chat"), send("bo", "marketing")
		assert.True(t, sentAt(t, h.settle(t, anaChat), false).Equal(at), "a category without quiet hours waits for none")
		assert.True(t, sentAt(t, h.settle(t, bo), false).Equal(at), `a user's "none" overrides the category`)
		assert.True(t, sentAt(t, h.settle(t, ana), true).Equal(time.Date(2000, 6, 11, 7, 0, 0, 0, ny)), "the category's window")
	})
}

// TestQuietHoursExpireFirst expires a delivery whose TTL ends within the
// quiet hours at once, rather than keeping it until they end.
func TestQuietHoursExpireFirst(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ny := zone(t, "America/New_York")
		h := newHarness(t)
		h.contact(t, notify.Contact{UserID: "ana", Phone: "+15005550006", TimeZone: "America/New_York", QuietHours: nightQuiet})
		at := time.Date(2000, 6, 10, 22, 30, 0, 0, ny)
		sleepUntil(t, at)
		h.run(t)
		short, long := quietSMS("ana"), quietSMS("ana")
		short.TTL, long.TTL = 2*time.Hour, 10*time.Hour
		rs, err := h.d.SendBatch(t.Context(), []notify.Notification{short, long})
		require.NoError(t, err)
		synctest.Wait()
		ds, err := h.d.Status(t.Context(), rs[0].NotificationID)
		require.NoError(t, err)
		require.Len(t, ds, 1)
		assert.Equal(t, notify.StatusExpired, ds[0].Status)
		assert.Equal(t, notify.ReasonExpired, ds[0].Reason)
		assert.True(t, ds[0].UpdatedAt.Equal(at), "expired at %s, not when the window ends", ds[0].UpdatedAt.In(ny))
		got := sentAt(t, h.settle(t, rs[1].NotificationID), true)
		assert.True(t, got.Equal(time.Date(2000, 6, 11, 7, 0, 0, 0, ny)), "one that outlives the window is sent at its end")
		assert.Len(t, h.ch["sms"].Sent(), 1)
	})
}

// TestQuietHoursScheduled defers a notification scheduled (SendAt) into
// quiet hours to their end.
func TestQuietHoursScheduled(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ny := zone(t, "America/New_York")
		h := newHarness(t)
		h.contact(t, notify.Contact{UserID: "ana", Phone: "+15005550006", TimeZone: "America/New_York", QuietHours: nightQuiet})
		sleepUntil(t, time.Date(2000, 6, 10, 12, 0, 0, 0, ny))
		h.run(t)
		n := quietSMS("ana")
		n.SendAt = time.Date(2000, 6, 10, 23, 0, 0, 0, ny)
		r, err := h.d.Send(t.Context(), n)
		require.NoError(t, err)
		got := sentAt(t, h.settle(t, r.NotificationID), true)
		assert.True(t, got.Equal(time.Date(2000, 6, 11, 7, 0, 0, 0, ny)), "sent at %s", got.In(ny))
	})
}

// TestQuietHoursSpendNoRateLimit checks that deliveries waiting out quiet
// hours are counted by the rate limiter only when they are sent, whether
// the limiter is asked per delivery or for a fetched batch at once: with
// one message a day allowed and over-limit messages dropped, each user's
// one message is sent at the window's end.
func TestQuietHoursSpendNoRateLimit(t *testing.T) {
	for _, batch := range []bool{false, true} {
		t.Run("batch limiter "+strconv.FormatBool(batch), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				ny := zone(t, "America/New_York")
				h := newHarness(t, func(c *notify.Config) {
					c.Categories = map[string]notify.CategoryPolicy{"digest": {
						Limit: notify.Limit{Rate: 1, Per: 24 * time.Hour}, OverLimit: notify.OverLimitDrop}}
					if batch {
						c.Limiter = &batchLimiter{Limiter: c.Limiter}
					}
				})
				var ns []notify.Notification
				for i := range 4 {
					user := "u" + strconv.Itoa(i)
					h.contact(t, notify.Contact{UserID: user, Phone: "+1500555000" + strconv.Itoa(i), TimeZone: "America/New_York", QuietHours: nightQuiet})
					n := quietSMS(user)
					n.Category = "digest"
					ns = append(ns, n)
				}
				sleepUntil(t, time.Date(2000, 6, 10, 22, 30, 0, 0, ny))
				// Queued before Run, so that one Receive leases them all.
				rs, err := h.d.SendBatch(t.Context(), ns)
				require.NoError(t, err)
				h.run(t)
				for _, r := range rs {
					got := sentAt(t, h.settle(t, r.NotificationID), true)
					assert.True(t, got.Equal(time.Date(2000, 6, 11, 7, 0, 0, 0, ny)), "sent at %s", got.In(ny))
				}
				if bl, ok := h.cfg.Limiter.(*batchLimiter); ok {
					assert.Zero(t, bl.batches.Load(), "the deferred fetch asked the limiter")
				}
			})
		})
	}
}

func TestPutContactChecksQuietHours(t *testing.T) {
	h := newHarness(t)
	err := h.d.PutContact(t.Context(), notify.Contact{UserID: "ana", QuietHours: &notify.QuietHours{Start: notify.ClockAt(22, 0), End: 1440}})
	var ve *notify.ValidationError
	require.True(t, errors.As(err, &ve), "%v", err)
	assert.Equal(t, "QuietHours.End", ve.Field)
	_, err = h.store.Contact(context.Background(), "ana")
	assert.ErrorIs(t, err, notify.ErrNotFound, "nothing stored")

	require.NoError(t, h.d.PutContact(t.Context(), notify.Contact{UserID: "ana", QuietHours: &notify.QuietHours{}}))
	c, err := h.d.Contact(t.Context(), "ana")
	require.NoError(t, err)
	require.NotNil(t, c.QuietHours, `"none" is kept, distinct from unset`)
	assert.True(t, c.QuietHours.IsZero())
}

func TestNewChecksQuietHours(t *testing.T) {
	h := newHarness(t)
	cfg := h.cfg
	cfg.Categories = map[string]notify.CategoryPolicy{"chat": {QuietHours: notify.QuietHours{Start: -5}}}
	_, err := notify.New(cfg)
	require.Error(t, err)
	assert.Contains(t, err.Error(), `Config.Categories["chat"].QuietHours`)
}
