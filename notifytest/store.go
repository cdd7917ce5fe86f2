package notifytest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gonotify/notify"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestStore runs the conformance suite for a notify.Store. newStore returns
// a store for one subtest and registers its own cleanup; it may be shared
// with other subtests, which run in parallel with user, notification and
// delivery IDs of their own.
//
// It checks contacts (put, get, replace, ErrNotFound, quiet hours unset,
// "none" and set kept apart, RemoveAddress of phones, emails and device
// tokens honouring registeredBefore),
// preferences (Consent unset until set, then allowed or opted out, per
// user, category and channel; the wildcards AllCategories and AllChannels
// with the precedence of notify.Consent, checked against notify.ConsentOf
// for every combination of settings) and the
// log (Record, then State with DeliveryState.Apply's attempt counting,
// Delivery, Deliveries oldest first with events in order, ErrNotFound for
// what was never recorded, concurrent Records losing nothing, and Record
// keeping no argument once it has returned, also when its ctx ended
// first).
//
// Each optional capability the store has (found with notify.As, so a
// wrapper with Unwrap is checked too) is checked against the calls it
// stands for. A notify.OnceRecorder: of concurrent RecordOnce calls with
// one key exactly one records and runs its action, a failed action
// records nothing and frees the key, and what RecordOnce records reads
// back as Record's would. A notify.Pruner: Prune deletes exactly the log
// events older than StoreFeatures.Retention (which a Pruner must declare),
// also the older events of a delivery that keeps newer ones, and says how
// many. A notify.PreferenceLister: every setting listed once, by category
// then channel, with its latest value and time. A notify.DeviceRegistry: one device registered, refreshed or
// unregistered without touching the rest of the contact; a token with one
// owner (registering, refreshing or putting a token another user holds
// moves it, and RegisterDevice says from whom), also when two users
// register it at once; 50 devices of one user registered at once all
// kept; PruneDevices removing exactly the devices not seen since the
// given time.
//
// features, when given, says what the suite cannot learn from the store
// (see StoreFeatures); at most one.
func TestStore(t *testing.T, newStore func(t *testing.T) notify.Store, features ...StoreFeatures) {
	var f StoreFeatures
	if len(features) > 0 {
		f = features[0]
	}
	run := func(name string, f func(t *testing.T, s notify.Store, id string)) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			s := newStore(t)
			require.NotNil(t, s, "newStore returned nil")
			f(t, s, UniqueName(t))
		})
	}
	run("Contact", testContact)
	run("ContactQuietHours", testContactQuietHours)
	run("RemoveAddress", testRemoveAddress)
	run("RemoveDeviceToken", testRemoveDeviceToken)
	run("Preferences", testPreferences)
	run("PreferencesAllChannels", testPreferencesAllChannels)
	run("PreferencesConsent", testPreferencesConsent)
	run("PreferencesPrecedence", testPreferencesPrecedence)
	run("PreferenceLister", testPreferenceLister)
	run("LogState", testLogState)
	run("LogDeliveries", testLogDeliveries)
	run("LogNotFound", testLogNotFound)
	run("LogConcurrentRecord", testLogConcurrent)
	run("RecordKeepsNoArgument", testRecordKeepsNoArgument)
	run("RecordOnce", testRecordOnce)
	run("RecordOnceReadsAsRecord", testRecordOnceReadsAsRecord)
	run("UserLog", testUserLog)
	run("DeviceRegister", testDeviceRegister)
	run("DeviceMove", testDeviceMove)
	run("DeviceRefresh", testDeviceRefresh)
	run("DeviceConcurrent", testDeviceConcurrent)
	run("Reporter", testReporter)
	t.Run("Prune", func(t *testing.T) { testStorePrune(t, newStore(t), UniqueName(t), f.Retention) }) // alone
	t.Run("DevicePrune", func(t *testing.T) { testDevicePrune(t, newStore(t), UniqueName(t)) })       // alone
}

// at returns a fixed instant plus d, at microsecond precision (what
// PostgreSQL keeps).
func at(d time.Duration) time.Time {
	return time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC).Add(d).Truncate(time.Microsecond)
}

func assertContact(t *testing.T, want, got notify.Contact) {
	t.Helper()
	assert.Equal(t, want.UserID, got.UserID, "Contact.UserID")
	assert.Equal(t, want.Phone, got.Phone, "Contact.Phone")
	assert.Equal(t, want.Email, got.Email, "Contact.Email")
	assert.Equal(t, want.Locale, got.Locale, "Contact.Locale")
	assert.Equal(t, want.TimeZone, got.TimeZone, "Contact.TimeZone")
	if want.QuietHours == nil {
		assert.Nil(t, got.QuietHours, "Contact.QuietHours: unset, read back as set")
	} else if assert.NotNil(t, got.QuietHours, "Contact.QuietHours: %s, read back as unset", *want.QuietHours) {
		assert.Equal(t, want.QuietHours.IsZero(), got.QuietHours.IsZero(), "Contact.QuietHours.IsZero")
		if !want.QuietHours.IsZero() {
			assert.Equal(t, *want.QuietHours, *got.QuietHours, "Contact.QuietHours")
		}
	}
	if !assert.Len(t, got.Devices, len(want.Devices), "Contact.Devices") {
		return
	}
	for i := range want.Devices {
		w, g := want.Devices[i], got.Devices[i]
		assert.Equal(t, w.Platform, g.Platform, "Devices[%d].Platform", i)
		assert.Equal(t, w.Token, g.Token, "Devices[%d].Token", i)
		assert.Equal(t, w.App, g.App, "Devices[%d].App", i)
		assert.Equal(t, w.Locale, g.Locale, "Devices[%d].Locale", i)
		assert.True(t, w.RegisteredAt.Equal(g.RegisteredAt), "Devices[%d].RegisteredAt: want %v, got %v", i, w.RegisteredAt, g.RegisteredAt)
		assert.True(t, w.LastSeen.Equal(g.LastSeen), "Devices[%d].LastSeen: want %v, got %v", i, w.LastSeen, g.LastSeen)
	}
}

func testContact(t *testing.T, s notify.Store, id string) {
	ctx := timeout(t, 20*time.Second)
	_, err := s.Contact(ctx, id)
	assert.ErrorIs(t, err, notify.ErrNotFound, "Contact of an unknown user")

	c := notify.Contact{
		UserID: id,
		Devices: []notify.Device{
			{Platform: "apns", Token: id + "-tok-a", App: "com.example.app", Locale: "pt-PT", RegisteredAt: at(0), LastSeen: at(time.Minute)},
			{Platform: "fcm", Token: id + "-tok-b", RegisteredAt: at(time.Hour)},
		},
		Phone:      "+15550101",
		Email:      "ana@example.com",
		Locale:     "pt-BR",
		TimeZone:   "America/Sao_Paulo",
		QuietHours: &notify.QuietHours{Start: notify.ClockAt(22, 0), End: notify.ClockAt(7, 30)},
	}
	require.NoError(t, s.PutContact(ctx, c))
	got, err := s.Contact(ctx, id)
	require.NoError(t, err)
	assertContact(t, c, got)

	// The store keeps its own copy.
	got.Devices[0].Token = "changed"
	c.Devices[1].Token = "changed too"
	got.QuietHours.Start = notify.ClockAt(1, 0)
	c.QuietHours.End = notify.ClockAt(2, 0)
	again, err := s.Contact(ctx, id)
	require.NoError(t, err)
	assert.Equal(t, id+"-tok-a", again.Devices[0].Token, "changing a returned Contact changed the stored one")
	assert.Equal(t, id+"-tok-b", again.Devices[1].Token, "changing a put Contact changed the stored one")
	assert.Equal(t, notify.QuietHours{Start: notify.ClockAt(22, 0), End: notify.ClockAt(7, 30)}, *again.QuietHours,
		"changing the QuietHours of a put or returned Contact changed the stored one")

	// Put replaces.
	c2 := notify.Contact{UserID: id, Email: "new@example.com"}
	require.NoError(t, s.PutContact(ctx, c2))
	got, err = s.Contact(ctx, id)
	require.NoError(t, err)
	assertContact(t, c2, got)

	_, err = s.Contact(ctx, id+"-other")
	assert.ErrorIs(t, err, notify.ErrNotFound, "Contact of another unknown user")
}

// testContactQuietHours checks that a contact's quiet hours read back as
// put: unset, "none" (empty, and distinct from unset) and windows from
// 00:00 to 23:59.
func testContactQuietHours(t *testing.T, s notify.Store, id string) {
	ctx := timeout(t, 20*time.Second)
	for i, q := range []*notify.QuietHours{
		nil,
		{},
		{Start: notify.ClockAt(0, 0), End: notify.ClockAt(23, 59)},
		{Start: notify.ClockAt(23, 59), End: notify.ClockAt(0, 0)},
		{Start: notify.ClockAt(13, 15), End: notify.ClockAt(13, 45)},
		nil,
	} {
		c := notify.Contact{UserID: id, Email: "q@example.com", QuietHours: q}
		require.NoError(t, s.PutContact(ctx, c), "put %d", i)
		got, err := s.Contact(ctx, id)
		require.NoError(t, err, "get %d", i)
		assertContact(t, c, got)
	}
}

func testRemoveAddress(t *testing.T, s notify.Store, id string) {
	ctx := timeout(t, 20*time.Second)
	c := notify.Contact{UserID: id, Phone: "+15550102", Email: "bo@example.com", Locale: "en"}
	require.NoError(t, s.PutContact(ctx, c))

	// A different address on the channel is left alone.
	require.NoError(t, s.RemoveAddress(ctx, id, notify.ChannelSMS, "+15559999", time.Time{}))
	require.NoError(t, s.RemoveAddress(ctx, id, notify.ChannelEmail, "other@example.com", time.Time{}))
	got, err := s.Contact(ctx, id)
	require.NoError(t, err)
	assertContact(t, c, got)

	// Phones and emails have no registration time: registeredBefore does
	// not protect them.
	require.NoError(t, s.RemoveAddress(ctx, id, notify.ChannelSMS, c.Phone, at(0)))
	got, err = s.Contact(ctx, id)
	require.NoError(t, err)
	assert.Empty(t, got.Phone, "phone after RemoveAddress")
	assert.Equal(t, c.Email, got.Email, "email after removing the phone")

	require.NoError(t, s.RemoveAddress(ctx, id, notify.ChannelEmail, c.Email, time.Time{}))
	got, err = s.Contact(ctx, id)
	require.NoError(t, err)
	assert.Empty(t, got.Email, "email after RemoveAddress")
	assert.Equal(t, "en", got.Locale, "the rest of the contact survives RemoveAddress")

	err = s.RemoveAddress(ctx, id+"-nobody", notify.ChannelSMS, "+15550000", time.Time{})
	if err != nil {
		assert.ErrorIs(t, err, notify.ErrNotFound, "RemoveAddress for an unknown user returns nil or ErrNotFound")
	}
}

func testRemoveDeviceToken(t *testing.T, s notify.Store, id string) {
	ctx := timeout(t, 20*time.Second)
	c := notify.Contact{UserID: id, Devices: []notify.Device{
		{Platform: "apns", Token: id + "-old", RegisteredAt: at(0)},
		{Platform: "fcm", Token: id + "-fresh", RegisteredAt: at(2 * time.Hour)},
		{Platform: "apns", Token: id + "-keep", RegisteredAt: at(0)},
	}}
	require.NoError(t, s.PutContact(ctx, c))
	verdict := at(time.Hour) // the provider said "dead" between the two registrations

	require.NoError(t, s.RemoveAddress(ctx, id, "apns", id+"-old", verdict))
	require.NoError(t, s.RemoveAddress(ctx, id, "fcm", id+"-fresh", verdict))
	got, err := s.Contact(ctx, id)
	require.NoError(t, err)
	assertContact(t, notify.Contact{UserID: id, Devices: c.Devices[1:]}, got)

	// A zero registeredBefore removes the token whatever its registration.
	require.NoError(t, s.RemoveAddress(ctx, id, "fcm", id+"-fresh", time.Time{}))
	got, err = s.Contact(ctx, id)
	require.NoError(t, err)
	assertContact(t, notify.Contact{UserID: id, Devices: c.Devices[2:]}, got)
}

// event returns an event of delivery d of notification n.
func event(n, d string, status notify.Status, attempt int, when time.Time) notify.Event {
	return notify.Event{
		DeliveryID: d, NotificationID: n, UserID: "u1", Category: "chat",
		Channel: "sms", Address: "+15550103", Template: "order-shipped", Locale: "pt-BR",
		Status: status, Attempt: attempt, At: when,
	}
}

func assertEvents(t *testing.T, want, got []notify.Event) {
	t.Helper()
	if !assert.Len(t, got, len(want), "events") {
		return
	}
	for i := range want {
		w, g := want[i], got[i]
		assert.Equal(t, w.DeliveryID, g.DeliveryID, "Events[%d].DeliveryID", i)
		assert.Equal(t, w.NotificationID, g.NotificationID, "Events[%d].NotificationID", i)
		assert.Equal(t, w.UserID, g.UserID, "Events[%d].UserID", i)
		assert.Equal(t, w.Category, g.Category, "Events[%d].Category", i)
		assert.Equal(t, w.Channel, g.Channel, "Events[%d].Channel", i)
		assert.Equal(t, w.Address, g.Address, "Events[%d].Address", i)
		assert.Equal(t, w.Template, g.Template, "Events[%d].Template", i)
		assert.Equal(t, w.Locale, g.Locale, "Events[%d].Locale", i)
		assert.Equal(t, w.Status, g.Status, "Events[%d].Status", i)
		assert.Equal(t, w.Reason, g.Reason, "Events[%d].Reason", i)
		assert.Equal(t, w.Attempt, g.Attempt, "Events[%d].Attempt", i)
		assert.Equal(t, w.ProviderID, g.ProviderID, "Events[%d].ProviderID", i)
		assert.Equal(t, w.MaybeSent, g.MaybeSent, "Events[%d].MaybeSent", i)
		assert.True(t, w.At.Equal(g.At), "Events[%d].At: want %v, got %v", i, w.At, g.At)
	}
}

// assertStatus checks got against what NewDeliveryRecord makes of events.
func assertStatus(t *testing.T, events []notify.Event, got notify.DeliveryRecord) {
	t.Helper()
	want := notify.NewDeliveryRecord(events)
	assert.Equal(t, want.DeliveryID, got.DeliveryID, "DeliveryRecord.DeliveryID")
	assert.Equal(t, want.NotificationID, got.NotificationID, "DeliveryRecord.NotificationID")
	assert.Equal(t, want.UserID, got.UserID, "DeliveryRecord.UserID")
	assert.Equal(t, want.Category, got.Category, "DeliveryRecord.Category")
	assert.Equal(t, want.Channel, got.Channel, "DeliveryRecord.Channel")
	assert.Equal(t, want.Address, got.Address, "DeliveryRecord.Address")
	assert.Equal(t, want.Template, got.Template, "DeliveryRecord.Template")
	assert.Equal(t, want.Locale, got.Locale, "DeliveryRecord.Locale")
	assert.Equal(t, want.Status, got.Status, "DeliveryRecord.Status")
	assert.Equal(t, want.Attempts, got.Attempts, "DeliveryRecord.Attempts")
	assert.Equal(t, want.ProviderID, got.ProviderID, "DeliveryRecord.ProviderID")
	assert.Equal(t, want.Reason, got.Reason, "DeliveryRecord.Reason")
	assert.True(t, want.UpdatedAt.Equal(got.UpdatedAt), "DeliveryRecord.UpdatedAt: want %v, got %v", want.UpdatedAt, got.UpdatedAt)
	assertEvents(t, events, got.Events)
}

func testLogState(t *testing.T, s notify.Store, id string) {
	ctx := timeout(t, 20*time.Second)
	n, d := id+"-n", id+"-d"
	var events []notify.Event
	state := func() notify.DeliveryState {
		t.Helper()
		st, err := s.State(ctx, d)
		require.NoError(t, err)
		// Since is optional (an EventLog that keeps no event times leaves it
		// zero); when kept it is the last queued or replayed event's time.
		if !st.Since.IsZero() {
			var want notify.DeliveryState
			for _, e := range events {
				want.Apply(e)
			}
			assert.True(t, want.Since.Equal(st.Since), "State.Since is %v, want %v", st.Since, want.Since)
		}
		st.Since = time.Time{}
		return st
	}
	record := func(status notify.Status, attempt int, edit func(e *notify.Event)) {
		t.Helper()
		e := event(n, d, status, attempt, at(time.Duration(len(events))*time.Second))
		if edit != nil {
			edit(&e)
		}
		require.NoError(t, s.Record(ctx, e))
		events = append(events, e)
	}

	record(notify.StatusQueued, 0, nil)
	assert.Equal(t, notify.DeliveryState{Status: notify.StatusQueued}, state())
	record(notify.StatusRetrying, 1, func(e *notify.Event) { e.Reason = "503"; e.MaybeSent = true })
	assert.Equal(t, notify.DeliveryState{Status: notify.StatusRetrying, Attempts: 1}, state())
	record(notify.StatusConfig, 2, func(e *notify.Event) { e.Reason = "bad key" })
	assert.Equal(t, notify.DeliveryState{Status: notify.StatusConfig, Attempts: 1}, state(), "a configuration error is not an attempt")
	record(notify.StatusDeferred, 2, nil)
	assert.Equal(t, notify.DeliveryState{Status: notify.StatusDeferred, Attempts: 1}, state(), "a deferral is not an attempt")
	record(notify.StatusRetrying, 2, nil)
	record(notify.StatusDead, 3, func(e *notify.Event) { e.Reason = "retries exhausted" })
	assert.Equal(t, notify.DeliveryState{Status: notify.StatusDead, Attempts: 3}, state())
	record(notify.StatusReplayed, 0, nil)
	assert.Equal(t, notify.DeliveryState{Status: notify.StatusReplayed}, state(), "Replay resets attempts")
	record(notify.StatusSent, 1, func(e *notify.Event) { e.ProviderID = "SM123" })
	assert.Equal(t, notify.DeliveryState{Status: notify.StatusSent, Attempts: 1}, state())
	record(notify.StatusOpened, 0, nil)
	assert.Equal(t, notify.DeliveryState{Status: notify.StatusSent, Attempts: 1}, state(), "tracking does not change the status")

	ds, err := s.Delivery(ctx, d)
	require.NoError(t, err)
	assertStatus(t, events, ds)
}

func testLogDeliveries(t *testing.T, s notify.Store, id string) {
	ctx := timeout(t, 20*time.Second)
	n := id + "-n"
	d := []string{id + "-d1", id + "-d2", id + "-d3"}
	// Three deliveries queued in order, then their events interleaved, some
	// several in one Record call.
	q := []notify.Event{
		event(n, d[0], notify.StatusQueued, 0, at(0)),
		event(n, d[1], notify.StatusQueued, 0, at(1*time.Millisecond)),
		event(n, d[2], notify.StatusQueued, 0, at(2*time.Millisecond)),
	}
	q[2].Channel, q[2].Address = "email", "c@example.com"
	require.NoError(t, s.Record(ctx, q...))
	e1 := event(n, d[1], notify.StatusSent, 1, at(time.Second))
	e1.ProviderID = "p-1"
	e0 := event(n, d[0], notify.StatusRetrying, 1, at(2*time.Second))
	e0b := event(n, d[0], notify.StatusFailed, 2, at(3*time.Second))
	e0b.Reason = "unsubscribed number"
	require.NoError(t, s.Record(ctx, e1, e0))
	require.NoError(t, s.Record(ctx, e0b))
	// Another notification's delivery must not show up.
	require.NoError(t, s.Record(ctx, event(n+"-other", id+"-x", notify.StatusQueued, 0, at(0))))

	got, err := s.Deliveries(ctx, n)
	require.NoError(t, err)
	require.Len(t, got, 3, "Deliveries of a notification with three deliveries")
	want := [][]notify.Event{{q[0], e0, e0b}, {q[1], e1}, {q[2]}}
	for i := range want {
		assert.Equal(t, d[i], got[i].DeliveryID, "Deliveries must be oldest first")
		assertStatus(t, want[i], got[i])
	}

	one, err := s.Delivery(ctx, d[0])
	require.NoError(t, err)
	assertStatus(t, want[0], one)
	assert.Equal(t, notify.StatusFailed, one.Status)
	assert.Equal(t, 2, one.Attempts)
	assert.Equal(t, "unsubscribed number", one.Reason)
}

func testLogNotFound(t *testing.T, s notify.Store, id string) {
	ctx := timeout(t, 20*time.Second)
	_, err := s.State(ctx, id+"-none")
	assert.ErrorIs(t, err, notify.ErrNotFound, "State of a delivery never recorded")
	_, err = s.Delivery(ctx, id+"-none")
	assert.ErrorIs(t, err, notify.ErrNotFound, "Delivery of a delivery never recorded")
	_, err = s.Deliveries(ctx, id+"-none")
	assert.ErrorIs(t, err, notify.ErrNotFound, "Deliveries of a notification never recorded")
	require.NoError(t, s.Record(ctx), "Record of no events")
}

func testLogConcurrent(t *testing.T, s notify.Store, id string) {
	const writers, each = 8, 25
	ctx := timeout(t, 30*time.Second)
	n := id + "-n"
	shared := id + "-shared"
	require.NoError(t, s.Record(ctx, event(n, shared, notify.StatusQueued, 0, at(0))))
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	for w := range writers {
		wg.Go(func() {
			own := fmt.Sprintf("%s-w%d", id, w)
			if err := s.Record(ctx, event(n, own, notify.StatusQueued, 0, at(time.Duration(w+1)*time.Millisecond))); err != nil {
				errs <- err
				return
			}
			for i := range each {
				when := at(time.Duration(i+1) * time.Second)
				// One event on the writer's own delivery, one on the shared one.
				if err := s.Record(ctx, event(n, own, notify.StatusRetrying, i+1, when)); err != nil {
					errs <- err
					return
				}
				if err := s.Record(ctx, event(n, shared, notify.StatusRetrying, i+1, when)); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("concurrent Record: %v", err)
	}

	st, err := s.State(ctx, shared)
	require.NoError(t, err)
	st.Since = time.Time{} // optional; checked in LogState
	assert.Equal(t, notify.DeliveryState{Status: notify.StatusRetrying, Attempts: writers * each}, st,
		"concurrent Records on one delivery lost an attempt")
	for w := range writers {
		ds, err := s.Delivery(ctx, fmt.Sprintf("%s-w%d", id, w))
		require.NoError(t, err)
		assert.Equal(t, each, ds.Attempts, "writer %d's delivery", w)
		if assert.Len(t, ds.Events, each+1) {
			for i, e := range ds.Events[1:] {
				assert.Equal(t, i+1, e.Attempt, "writer %d's events out of order", w)
			}
		}
	}
	all, err := s.Deliveries(ctx, n)
	require.NoError(t, err)
	assert.Len(t, all, writers+1, "Deliveries after concurrent Records")
}

// testRecordKeepsNoArgument checks that Record keeps no argument once it
// has returned, even when its ctx ends first (a combined statement may
// still run then): each writer reuses one slice for all its calls and
// writes over it as soon as a call returns, and what it wrote over with
// must never reach the log.
func testRecordKeepsNoArgument(t *testing.T, s notify.Store, id string) {
	const writers, each = 32, 40
	ctx := timeout(t, 30*time.Second)
	n := id + "-n"
	scribbled := id + "-scribbled"
	var wg sync.WaitGroup
	var mu sync.Mutex
	var recorded []string
	for w := range writers {
		wg.Go(func() {
			var buf [1]notify.Event
			for i := range each {
				did := fmt.Sprintf("%s-w%d-%d", id, w, i)
				buf[0] = event(n, did, notify.StatusQueued, 0, at(0))
				// Most calls' contexts end soon, some before their write is
				// done; one in eight waits for it.
				cctx, cancel := context.WithTimeout(ctx, time.Duration(i%8)*100*time.Microsecond)
				if i%8 == 7 {
					cctx, cancel = ctx, func() {}
				}
				err := s.Record(cctx, buf[:]...)
				cancel()
				buf[0] = event(n, scribbled, notify.StatusFailed, 9, at(time.Hour))
				if err == nil {
					mu.Lock()
					recorded = append(recorded, did)
					mu.Unlock()
				}
			}
		})
	}
	wg.Wait()
	// A write whose caller stopped waiting may still be running: give it
	// time to land before looking.
	time.Sleep(200 * time.Millisecond)
	_, err := s.State(ctx, scribbled)
	assert.ErrorIs(t, err, notify.ErrNotFound, "an event written over after Record returned reached the log")
	assert.NotEmpty(t, recorded, "no Record succeeded")
	for _, did := range recorded {
		st, err := s.State(ctx, did)
		if assert.NoError(t, err, "delivery %s", did) {
			assert.Equal(t, notify.StatusQueued, st.Status, "delivery %s", did)
		}
	}
}

func testRecordOnce(t *testing.T, s notify.Store, id string) {
	or, ok := notify.As[notify.OnceRecorder](s)
	if !ok {
		t.Skip("the store is not a notify.OnceRecorder")
	}
	const callers = 20
	ctx := timeout(t, 30*time.Second)
	n, d := id+"-n", id+"-d"
	require.NoError(t, s.Record(ctx, event(n, d, notify.StatusQueued, 0, at(0)), event(n, d, notify.StatusSent, 1, at(time.Second))))
	report := event(n, d, notify.StatusDelivered, 0, at(time.Minute))
	report.UserID, report.Category = id, "alerts"

	// Identical reports at once: one is recorded and acted on.
	var acted, recorded atomic.Int32
	act := func(ctx context.Context, st notify.Store) error {
		acted.Add(1)
		return st.SetPreference(ctx, id, "alerts", "sms", false)
	}
	var wg sync.WaitGroup
	start := make(chan struct{})
	for range callers {
		wg.Go(func() {
			<-start
			ok, err := or.RecordOnce(ctx, report, "key-1", act)
			if assert.NoError(t, err, "RecordOnce") && ok {
				recorded.Add(1)
			}
		})
	}
	close(start)
	wg.Wait()
	assert.EqualValues(t, 1, recorded.Load(), "concurrent RecordOnce calls with one key that recorded")
	assert.EqualValues(t, 1, acted.Load(), "concurrent RecordOnce calls with one key that ran then")
	consent, err := s.Consent(ctx, id, "alerts", "sms")
	require.NoError(t, err)
	assert.Equal(t, notify.ConsentOptedOut, consent, "then's write was kept")
	ds, err := s.Delivery(ctx, d)
	require.NoError(t, err)
	require.Len(t, ds.Events, 3, "queued, sent and one delivered")
	assert.Equal(t, notify.StatusDelivered, ds.Status)

	// A failed action records nothing and leaves the key free.
	boom := errors.New("boom")
	ok, err = or.RecordOnce(ctx, report, "key-2", func(context.Context, notify.Store) error { return boom })
	require.ErrorIs(t, err, boom, "RecordOnce returns then's error")
	assert.False(t, ok)
	ds, err = s.Delivery(ctx, d)
	require.NoError(t, err)
	assert.Len(t, ds.Events, 3, "a failed then records nothing")
	ok, err = or.RecordOnce(ctx, report, "key-2", nil)
	require.NoError(t, err)
	assert.True(t, ok, "the key of a failed then is free again")
	ok, err = or.RecordOnce(ctx, report, "key-2", nil)
	require.NoError(t, err)
	assert.False(t, ok, "a key is recorded once")

	// Keys are per delivery.
	other := report
	other.DeliveryID = id + "-other"
	ok, err = or.RecordOnce(ctx, other, "key-1", nil)
	require.NoError(t, err)
	assert.True(t, ok, "the same key on another delivery")
	ds, err = s.Delivery(ctx, other.DeliveryID)
	require.NoError(t, err)
	assert.Len(t, ds.Events, 1)
}
