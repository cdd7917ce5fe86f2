package e2e_test

import (
	"bytes"
	"context"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gonotify/notify"
	"github.com/gonotify/notify/channel/apns"
	"github.com/gonotify/notify/channel/apns/apnstest"
	"github.com/gonotify/notify/channel/fcm"
	"github.com/gonotify/notify/channel/fcm/fcmtest"
	queuemem "github.com/gonotify/notify/queue/memory"
	storemem "github.com/gonotify/notify/store/memory"
	"github.com/sideshow/apns2"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/oauth2"
)

func apnsTok(n int) string {
	s := strconv.Itoa(n)
	return strings.Repeat("b", 64-len(s)) + s
}

func fcmTok(n int) string {
	s := strconv.Itoa(n)
	return "cXk3:APA91b" + strings.Repeat("y", 140-len(s)) + s
}

// script answers pushes per address from a queue of replies; an address
// with no replies left gets the zero reply (success). It counts every push.
type script[R any] struct {
	mu      sync.Mutex
	replies map[string][]R
	hits    map[string]int
}

func newScript[R any]() *script[R] {
	return &script[R]{replies: map[string][]R{}, hits: map[string]int{}}
}

func (s *script[R]) set(addr string, rs ...R) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.replies[addr] = rs
}

func (s *script[R]) next(addr string) R {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.hits[addr]++
	var r R
	if q := s.replies[addr]; len(q) > 0 {
		r, s.replies[addr] = q[0], q[1:]
	}
	return r
}

func (s *script[R]) count(addr string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.hits[addr]
}

// syncBuffer is a log sink safe for the Dispatcher's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (w *syncBuffer) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}

func (w *syncBuffer) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.String()
}

type env struct {
	d     *notify.Dispatcher
	queue *queuemem.Queue
	store *storemem.Store
	apns  *script[apnstest.Reply]
	fcm   *script[fcmtest.Reply]
	logs  *syncBuffer
}

// start builds a Dispatcher with both push channels against local servers
// and the memory backends, and runs it until the test ends.
func start(t *testing.T) *env {
	t.Helper()
	e := &env{
		queue: queuemem.New(queuemem.Config{}), store: storemem.New(storemem.Config{}),
		apns: newScript[apnstest.Reply](), fcm: newScript[fcmtest.Reply](), logs: &syncBuffer{},
	}
	p8, pub, err := apnstest.NewAuthKey()
	require.NoError(t, err)
	asrv := apnstest.NewServer(apnstest.Config{Key: pub, KeyID: "KEY1234567", TeamID: "TEAM123456",
		Handler: func(r *apnstest.Request) apnstest.Reply { return e.apns.next(r.Token) }})
	t.Cleanup(asrv.Close)
	achan, err := apns.New(apns.Config{AuthKey: p8, KeyID: "KEY1234567", TeamID: "TEAM123456", Topic: "com.example.app",
		Host: asrv.URL, RootCAs: asrv.RootCAs(), TooManyRequestsDelay: 20 * time.Millisecond})
	require.NoError(t, err)

	fsrv := fcmtest.NewServer(fcmtest.Config{ProjectID: "p", AccessToken: "at",
		Handler: func(r *fcmtest.Request) fcmtest.Reply { return e.fcm.next(r.Message.Token) }})
	t.Cleanup(fsrv.Close)
	fchan, err := fcm.New(context.Background(), fcm.Config{ProjectID: "p", Endpoint: fsrv.Endpoint(),
		TokenSource: oauth2.StaticTokenSource(&oauth2.Token{AccessToken: "at"}), MinQuotaDelay: 20 * time.Millisecond})
	require.NoError(t, err)

	e.d, err = notify.New(notify.Config{
		Queue: e.queue, Store: e.store, Channels: []notify.Channel{achan, fchan},
		Retry:  notify.RetryPolicy{BaseDelay: 10 * time.Millisecond, MaxDelay: 50 * time.Millisecond},
		Logger: slog.New(slog.NewTextHandler(e.logs, nil)),
	})
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		assert.NoError(t, e.d.Run(ctx))
	}()
	t.Cleanup(func() {
		cancel()
		<-done
		_ = e.queue.Close()
	})
	return e
}

// settle waits until every delivery of the notification reaches a status
// in want (or any final status when want is empty) and returns them.
func (e *env) settle(t *testing.T, notificationID string, want ...notify.Status) []notify.DeliveryRecord {
	t.Helper()
	var got []notify.DeliveryRecord
	require.Eventually(t, func() bool {
		var err error
		got, err = e.d.Status(context.Background(), notificationID)
		if err != nil || len(got) == 0 {
			return false
		}
		for _, s := range got {
			ok := len(want) == 0 && s.Status.Final()
			for _, w := range want {
				ok = ok || s.Status == w
			}
			if !ok {
				return false
			}
		}
		return true
	}, 10*time.Second, 5*time.Millisecond, "deliveries of %s: %+v", notificationID, got)
	return got
}

func byAddress(ss []notify.DeliveryRecord) map[string]notify.DeliveryRecord {
	m := make(map[string]notify.DeliveryRecord, len(ss))
	for _, s := range ss {
		m[s.Address] = s
	}
	return m
}

func tokens(c notify.Contact, platform string) []string {
	var out []string
	for _, d := range c.Devices {
		if d.Platform == platform {
			out = append(out, d.Token)
		}
	}
	return out
}

func TestGoneRemovesTokenAndNextNotificationSkipsIt(t *testing.T) {
	e := start(t)
	ctx := context.Background()
	now := time.Now()
	require.NoError(t, e.store.PutContact(ctx, notify.Contact{UserID: "u1", Devices: []notify.Device{
		{Platform: "apns", Token: apnsTok(1), RegisteredAt: now.Add(-24 * time.Hour)},
		{Platform: "apns", Token: apnsTok(2), RegisteredAt: now.Add(-24 * time.Hour)},
		{Platform: "fcm", Token: fcmTok(1), RegisteredAt: now.Add(-24 * time.Hour)},
		{Platform: "fcm", Token: fcmTok(2), RegisteredAt: now.Add(-24 * time.Hour)},
	}}))
	e.apns.set(apnsTok(1), apnstest.Reply{Status: 410, Reason: apns2.ReasonUnregistered, Timestamp: now})
	e.fcm.set(fcmTok(1), fcmtest.Reply{ErrorStatus: "NOT_FOUND", ErrorCode: "UNREGISTERED", Message: "Requested entity was not found."})

	rcpt, err := e.d.Send(ctx, notify.Notification{UserID: "u1", Content: &notify.Message{Title: "Hi", Body: "there"}})
	require.NoError(t, err)
	require.Len(t, rcpt.Deliveries, 4)
	got := byAddress(e.settle(t, rcpt.NotificationID))
	assert.Equal(t, notify.StatusInvalid, got[apnsTok(1)].Status)
	assert.Equal(t, notify.StatusInvalid, got[fcmTok(1)].Status)
	assert.Equal(t, notify.StatusSent, got[apnsTok(2)].Status)
	assert.Equal(t, notify.StatusSent, got[fcmTok(2)].Status)
	assert.Contains(t, got[apnsTok(1)].Reason, "Unregistered")

	c, err := e.store.Contact(ctx, "u1")
	require.NoError(t, err)
	assert.Equal(t, []string{apnsTok(2)}, tokens(c, "apns"), "the 410'd token is gone")
	assert.Equal(t, []string{fcmTok(2)}, tokens(c, "fcm"), "the UNREGISTERED token is gone")

	rcpt2, err := e.d.Send(ctx, notify.Notification{UserID: "u1", Content: &notify.Message{Title: "Again"}})
	require.NoError(t, err)
	require.Len(t, rcpt2.Deliveries, 2, "the next notification goes to the live tokens only")
	got2 := byAddress(e.settle(t, rcpt2.NotificationID, notify.StatusSent))
	assert.Contains(t, got2, apnsTok(2))
	assert.Contains(t, got2, fcmTok(2))
	assert.Equal(t, 1, e.apns.count(apnsTok(1)), "the dead APNs token was pushed once")
	assert.Equal(t, 1, e.fcm.count(fcmTok(1)), "the dead FCM token was sent once")
}

func TestReRegisteredTokenSurvivesAnOlderGone(t *testing.T) {
	e := start(t)
	ctx := context.Background()
	// APNs says the token died an hour ago; the app registered it again since.
	require.NoError(t, e.store.PutContact(ctx, notify.Contact{UserID: "u2", Devices: []notify.Device{
		{Platform: "apns", Token: apnsTok(3), RegisteredAt: time.Now().Add(-time.Minute)},
	}}))
	e.apns.set(apnsTok(3), apnstest.Reply{Status: 410, Reason: apns2.ReasonUnregistered, Timestamp: time.Now().Add(-time.Hour)})

	rcpt, err := e.d.Send(ctx, notify.Notification{UserID: "u2", Content: &notify.Message{Title: "Hi"}})
	require.NoError(t, err)
	got := e.settle(t, rcpt.NotificationID)
	require.Len(t, got, 1)
	assert.Equal(t, notify.StatusInvalid, got[0].Status)
	c, err := e.store.Contact(ctx, "u2")
	require.NoError(t, err)
	assert.Equal(t, []string{apnsTok(3)}, tokens(c, "apns"), "a token registered after the 410's timestamp survives")

	rcpt2, err := e.d.Send(ctx, notify.Notification{UserID: "u2", Content: &notify.Message{Title: "Hi again"}})
	require.NoError(t, err)
	got2 := e.settle(t, rcpt2.NotificationID, notify.StatusSent)
	require.Len(t, got2, 1)
	assert.Equal(t, 2, e.apns.count(apnsTok(3)))
}

func TestRetryableAnswersAreRetriedThenDelivered(t *testing.T) {
	e := start(t)
	ctx := context.Background()
	e.apns.set(apnsTok(10), apnstest.Reply{Status: 429, Reason: apns2.ReasonTooManyRequests})
	e.apns.set(apnsTok(11), apnstest.Reply{Status: 503, Reason: apns2.ReasonServiceUnavailable},
		apnstest.Reply{Status: 500, Reason: apns2.ReasonInternalServerError})
	e.apns.set(apnsTok(12), apnstest.Reply{Drop: true})
	e.fcm.set(fcmTok(10), fcmtest.Reply{ErrorStatus: "INTERNAL", ErrorCode: "INTERNAL"})
	e.fcm.set(fcmTok(11), fcmtest.Reply{ErrorStatus: "RESOURCE_EXHAUSTED", ErrorCode: "QUOTA_EXCEEDED"})

	to := []notify.Address{
		{Channel: "apns", Value: apnsTok(10)}, {Channel: "apns", Value: apnsTok(11)}, {Channel: "apns", Value: apnsTok(12)},
		{Channel: "fcm", Value: fcmTok(10)}, {Channel: "fcm", Value: fcmTok(11)},
	}
	rcpt, err := e.d.Send(ctx, notify.Notification{To: to, Content: &notify.Message{Title: "Hi"}})
	require.NoError(t, err)
	got := byAddress(e.settle(t, rcpt.NotificationID, notify.StatusSent))
	wantAttempts := map[string]int{apnsTok(10): 2, apnsTok(11): 3, apnsTok(12): 2, fcmTok(10): 2, fcmTok(11): 2}
	for addr, n := range wantAttempts {
		s := got[addr]
		assert.Equal(t, n, s.Attempts, "%s attempts", addr)
		require.GreaterOrEqual(t, len(s.Events), 3, "%s events: %+v", addr, s.Events)
		assert.Equal(t, notify.StatusRetrying, s.Events[1].Status, "%s retried first", addr)
	}
	assert.Equal(t, 2, e.apns.count(apnsTok(10)))
	assert.Equal(t, 3, e.apns.count(apnsTok(11)))
	assert.Equal(t, 2, e.fcm.count(fcmTok(10)))
	assert.Equal(t, 2, e.fcm.count(fcmTok(11)))
	assert.True(t, got[apnsTok(12)].Events[1].MaybeSent, "a transport error is recorded as possibly sent")
	assert.False(t, got[apnsTok(10)].Events[1].MaybeSent, "a 429 was certainly not sent")
}

func TestConfigErrorKeepsTheDeliveryQueued(t *testing.T) {
	e := start(t)
	ctx := context.Background()
	e.apns.set(apnsTok(20), apnstest.Reply{Status: 403, Reason: apns2.ReasonInvalidProviderToken})
	rcpt, err := e.d.Send(ctx, notify.Notification{To: []notify.Address{{Channel: "apns", Value: apnsTok(20)}}, Content: &notify.Message{Title: "Hi"}})
	require.NoError(t, err)
	got := e.settle(t, rcpt.NotificationID, notify.StatusConfig)
	require.Len(t, got, 1)
	assert.Contains(t, got[0].Reason, "InvalidProviderToken")
	assert.Zero(t, got[0].Attempts, "a configuration error is not the delivery's attempt")

	// The status is logged just before the lease goes back with its delay.
	var st notify.QueueStats
	require.Eventually(t, func() bool {
		st, err = e.queue.Stats(ctx, e.d.QueueName("apns"))
		return err == nil && st.Delayed == 1
	}, 5*time.Second, 5*time.Millisecond, "the delivery stays queued until the credential is fixed: %+v", st)
	assert.Zero(t, st.Dead)
	assert.Contains(t, e.logs.String(), "level=ERROR")
	assert.Contains(t, e.logs.String(), "InvalidProviderToken")
	assert.Equal(t, 1, e.apns.count(apnsTok(20)))
}

func TestValidationFailureQueuesNothing(t *testing.T) {
	e := start(t)
	ctx := context.Background()
	require.NoError(t, e.store.PutContact(ctx, notify.Contact{UserID: "u3", Devices: []notify.Device{
		{Platform: "apns", Token: apnsTok(30)}, {Platform: "fcm", Token: fcmTok(30)},
	}}))
	cases := map[string]struct {
		n     notify.Notification
		field string
	}{
		"malformed APNs token":   {n: notify.Notification{To: []notify.Address{{Channel: "apns", Value: "not-a-token"}}, Content: &notify.Message{Title: "x"}}, field: "To[0].Value"},
		"APNs payload too large": {n: notify.Notification{UserID: "u3", Content: &notify.Message{Title: "x", Body: strings.Repeat("y", 5000)}}, field: "Content"},
		"APNs collapse ID too long": {n: notify.Notification{UserID: "u3", Content: &notify.Message{Title: "x"},
			Options: map[string]any{"apns": apns.Options{CollapseID: strings.Repeat("c", 65)}}}, field: "Options.apns.collapse_id"},
		"misspelt APNs option": {n: notify.Notification{UserID: "u3", Content: &notify.Message{Title: "x"},
			Options: map[string]any{"apns": map[string]any{"colapse_id": "c"}}}, field: "Options.apns"},
		"bad FCM option": {n: notify.Notification{UserID: "u3", Content: &notify.Message{Title: "x"},
			Options: map[string]any{"fcm": fcm.Options{AndroidPriority: "urgent"}}}, field: "Options.fcm.android_priority"},
		"FCM reserved data key": {n: notify.Notification{UserID: "u3", Channels: []string{"fcm"}, Content: &notify.Message{Title: "x", Data: map[string]string{"from": "me"}}}, field: "Content"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := e.d.Send(ctx, tc.n)
			var ve *notify.ValidationError
			require.ErrorAs(t, err, &ve)
			assert.Equal(t, tc.field, ve.Field, "reason: %s", ve.Reason)
		})
	}
	for _, ch := range []string{"apns", "fcm"} {
		st, err := e.queue.Stats(ctx, e.d.QueueName(ch))
		require.NoError(t, err)
		assert.Equal(t, notify.QueueStats{}, st, "nothing queued on %s", ch)
	}
	assert.Zero(t, e.apns.count(apnsTok(30)))
	assert.Zero(t, e.fcm.count(fcmTok(30)))
}

func TestManyFCMDevicesGoOutAsOneBatch(t *testing.T) {
	e := start(t)
	ctx := context.Background()
	var devs []notify.Device
	for i := range 20 {
		devs = append(devs, notify.Device{Platform: "fcm", Token: fcmTok(100 + i), RegisteredAt: time.Now().Add(-time.Hour)})
	}
	require.NoError(t, e.store.PutContact(ctx, notify.Contact{UserID: "u4", Devices: devs}))
	e.fcm.set(fcmTok(105), fcmtest.Reply{ErrorStatus: "PERMISSION_DENIED", ErrorCode: "SENDER_ID_MISMATCH"})
	rcpt, err := e.d.Send(ctx, notify.Notification{UserID: "u4", Content: &notify.Message{Body: "b"}})
	require.NoError(t, err)
	got := byAddress(e.settle(t, rcpt.NotificationID))
	require.Len(t, got, 20)
	for i := range 20 {
		want := notify.StatusSent
		if i == 5 {
			want = notify.StatusInvalid
		}
		assert.Equal(t, want, got[fcmTok(100+i)].Status, "device %d", i)
		assert.Equal(t, 1, e.fcm.count(fcmTok(100+i)), "device %d sent once", i)
	}
	c, err := e.store.Contact(ctx, "u4")
	require.NoError(t, err)
	assert.Len(t, c.Devices, 19)
}
