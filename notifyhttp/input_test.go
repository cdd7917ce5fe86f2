package notifyhttp

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gonotify/notify"
)

func TestBadInput(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.MaxBatch = 10 })
	ctx := context.Background()
	require.NoError(t, e.d.PutContact(ctx, notify.Contact{UserID: "ana", Phone: "+15005550006"}))
	huge := `{"user_id":"ana","content":{"body":"x"},"to":[` + strings.Repeat(`{"channel":"sms","value":"+15005550006"},`, 2000) + `{"channel":"sms","value":"+1"}]}`
	batch := `{"notifications":[` + strings.Repeat(`{"user_id":"ana","content":{"body":"x"}},`, 10) + `{"user_id":"ana","content":{"body":"x"}}]}`
	for _, tc := range []struct {
		name   string
		method string
		path   string
		body   string
		status int
		field  string
		says   string
	}{
		{"malformed JSON", "POST", "/v1/notifications", `{"user_id":`, 400, "", "malformed JSON"},
		{"empty", "POST", "/v1/notifications", ``, 400, "", "empty body"},
		{"not an object", "POST", "/v1/notifications", `[1,2]`, 400, "", "expected"},
		{"wrong type", "POST", "/v1/notifications", `{"user_id":42,"content":{"body":"x"}}`, 400, "user_id", "expected string"},
		{"nested wrong type", "POST", "/v1/notifications", `{"user_id":"ana","to":[{"channel":"sms","value":5}]}`, 400, "to.value", "expected string"},
		{"unknown field", "POST", "/v1/notifications", `{"user_id":"ana","content":{"body":"x"},"colour":"red"}`, 400, "colour", "unknown field"},
		{"trailing data", "POST", "/v1/notifications", `{"user_id":"ana","content":{"body":"x"}} {}`, 400, "", "data after"},
		{"invalid UTF-8", "POST", "/v1/notifications", "{\"user_id\":\"an\xffa\",\"content\":{\"body\":\"x\"}}", 400, "", "UTF-8"},
		{"bad time", "POST", "/v1/notifications", `{"user_id":"ana","content":{"body":"x"},"send_at":"tomorrow"}`, 400, "", "malformed JSON"},
		{"too large", "POST", "/v1/notifications", `{"user_id":"` + strings.Repeat("a", 10<<20) + `"}`, 413, "", "over 1048576 bytes"},
		{"no recipient", "POST", "/v1/notifications", `{"content":{"body":"x"}}`, 422, "user_id", "no recipient"},
		{"bad address", "POST", "/v1/notifications", `{"content":{"body":"x"},"to":[{"channel":"fax","value":"1"}]}`, 422, "to[0].channel", "unknown channel"},
		{"huge array", "POST", "/v1/notifications", huge, 422, "to", "at most"},
		{"batch too big", "POST", "/v1/notifications:batch", batch, 422, "notifications", "at most 10"},
		{"empty batch", "POST", "/v1/notifications:batch", `{"notifications":[]}`, 422, "notifications", "empty"},
		{"contact for another user", "PUT", "/v1/users/ana/contact", `{"user_id":"bob"}`, 422, "user_id", "differs"},
		{"bad time zone", "PUT", "/v1/users/ana/contact", `{"time_zone":"Mars/Olympus"}`, 422, "time_zone", "IANA"},
		{"bad quiet hours", "PUT", "/v1/users/ana/contact", `{"quiet_hours":"22:00-7"}`, 400, "", "quiet hours"},
		{"device without token", "POST", "/v1/users/ana/devices", `{"platform":"apns"}`, 422, "token", "empty"},
		{"preference without allowed", "PUT", "/v1/users/ana/preferences/news/sms", `{}`, 422, "allowed", "required"},
		{"preference wrong type", "PUT", "/v1/users/ana/preferences/news/sms", `{"allowed":"no"}`, 400, "allowed", "expected bool"},
		{"unknown route", "GET", "/v1/nothing", ``, 404, "", "no endpoint"},
		{"wrong method", "PATCH", "/v1/notifications", ``, 405, "", "PATCH"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			body := []byte(tc.body)
			path, query, _ := strings.Cut(tc.path, "?")
			nonce := newEventID()[4:]
			ts := time.Now().Unix()
			auth := authHeader(e.admin.ID, ts, nonce, Signature([]byte(e.secret), StringToSign(tc.method, path, query, ts, nonce, body)))
			status, p, _ := e.raw(t, tc.method, tc.path, body, auth)
			assert.Equal(t, tc.status, status, "%+v", p)
			assert.Equal(t, tc.field, p.Field)
			assert.Contains(t, p.Detail, tc.says)
			assert.Less(t, len(p.Detail), 400, "a problem's detail stays short")
			assert.Zero(t, e.stored(t), "bad input stored something")
		})
	}
	c, err := e.d.Contact(ctx, "ana")
	require.NoError(t, err)
	assert.Empty(t, c.Devices, "no device stored")
}

func TestContactsDevicesPreferences(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	_, err := e.c.Contact(ctx, "ana")
	assert.ErrorIs(t, err, notify.ErrNotFound)
	quiet := &notify.QuietHours{Start: notify.ClockAt(22, 0), End: notify.ClockAt(7, 0)}
	require.NoError(t, e.c.PutContact(ctx, notify.Contact{UserID: "ana/x y", Email: "ana@example.com", QuietHours: quiet}))
	c, err := e.c.Contact(ctx, "ana/x y")
	require.NoError(t, err)
	assert.Equal(t, "ana@example.com", c.Email)
	assert.Equal(t, quiet, c.QuietHours)

	reg := time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)
	r, err := e.c.RegisterDevice(ctx, "ana/x y", notify.Device{Platform: "apns", Token: "tok1", RegisteredAt: reg, App: "com.example.ios", Locale: "pt-PT"})
	require.NoError(t, err)
	require.Len(t, r.Devices, 1)
	assert.Equal(t, "com.example.ios", r.Devices[0].App)
	assert.Empty(t, r.MovedFrom)
	r, err = e.c.RegisterDevice(ctx, "ana/x y", notify.Device{Platform: "apns", Token: "tok2"})
	require.NoError(t, err)
	require.Len(t, r.Devices, 2)
	assert.False(t, r.Devices[1].RegisteredAt.IsZero(), "the server stamps the registration")
	assert.False(t, r.Devices[1].LastSeen.IsZero(), "the server stamps the last-seen time")
	r, err = e.c.RegisterDevice(ctx, "ana/x y", notify.Device{Platform: "apns", Token: "tok1"})
	require.NoError(t, err)
	require.Len(t, r.Devices, 2, "registering again refreshes, not duplicates")
	assert.Equal(t, "ana@example.com", r.Email, "a device registration keeps the rest of the contact")

	// Another user registers ana's second token: it moves, and the answer says from whom.
	r, err = e.c.RegisterDevice(ctx, "bo", notify.Device{Platform: "apns", Token: "tok2"})
	require.NoError(t, err)
	assert.Equal(t, "ana/x y", r.MovedFrom)
	require.NoError(t, e.c.UnregisterDevice(ctx, "bo", "apns", "tok2"))
	r, err = e.c.RegisterDevice(ctx, "ana/x y", notify.Device{Platform: "apns", Token: "tok2"})
	require.NoError(t, err)
	assert.Empty(t, r.MovedFrom, "an unregistered token moves from nobody")
	require.NoError(t, e.c.UnregisterDevice(ctx, "ana/x y", "apns", "tok2"))
	require.NoError(t, e.c.UnregisterDevice(ctx, "ana/x y", "apns", "never"))
	c, err = e.c.Contact(ctx, "ana/x y")
	require.NoError(t, err)
	require.Len(t, c.Devices, 1)
	assert.Equal(t, "tok1", c.Devices[0].Token)
	assert.Equal(t, "ana@example.com", c.Email, "a device write keeps the rest of the contact")
	assert.Equal(t, quiet, c.QuietHours, "a device write keeps the quiet hours")

	ok, err := e.c.Preference(ctx, "ana", "news", "email")
	require.NoError(t, err)
	assert.True(t, ok)
	require.NoError(t, e.c.SetPreference(ctx, "ana", notify.AllCategories, "email", false))
	ok, err = e.c.Preference(ctx, "ana", "news", "email")
	require.NoError(t, err)
	assert.False(t, ok)
	ps, err := e.c.Preferences(ctx, "bob")
	require.NoError(t, err)
	assert.Empty(t, ps, "a user with no settings")
	require.NoError(t, e.c.SetPreference(ctx, "ana", "news", notify.AllChannels, false))
	require.NoError(t, e.c.SetPreference(ctx, "ana", "news", "sms", true))
	ok, err = e.c.Preference(ctx, "ana", "news", "sms")
	require.NoError(t, err)
	assert.True(t, ok, "the category's setting on the channel wins over every channel")
	ps, err = e.c.Preferences(ctx, "ana")
	require.NoError(t, err)
	require.Len(t, ps, 3)
	assert.Equal(t, []string{notify.AllCategories, "news", "news"}, []string{ps[0].Category, ps[1].Category, ps[2].Category})
	assert.Equal(t, []string{"email", notify.AllChannels, "sms"}, []string{ps[0].Channel, ps[1].Channel, ps[2].Channel})
	assert.Equal(t, []bool{false, false, true}, []bool{ps[0].Allowed, ps[1].Allowed, ps[2].Allowed})
	assert.False(t, ps[2].Updated.IsZero())
	err = e.c.PutContact(ctx, notify.Contact{UserID: "bob", TimeZone: "Nowhere/Land"})
	var ve *notify.ValidationError
	require.ErrorAs(t, err, &ve)
	assert.Equal(t, "time_zone", ve.Field)
}

func TestBatchAndReplay(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	require.NoError(t, e.c.PutContact(ctx, notify.Contact{UserID: "ana", Phone: "+15005550006"}))
	rs, err := e.c.SendBatch(ctx, []notify.Notification{
		{UserID: "ana", Content: &notify.Message{Body: "1"}},
		{Content: &notify.Message{Body: "no one"}},
		{UserID: "ana", Content: &notify.Message{Body: "3"}},
	})
	var be *notify.BatchError
	require.ErrorAs(t, err, &be)
	require.Len(t, rs, 3)
	assert.NoError(t, be.Errs[0])
	var ve *notify.ValidationError
	require.ErrorAs(t, be.Errs[1], &ve)
	assert.Equal(t, "notifications[1].user_id", ve.Field)
	assert.NotEmpty(t, rs[0].NotificationID)
	assert.NotEmpty(t, rs[2].EventID, "the client gave it an event ID")
	assert.Equal(t, 2, e.stored(t))

	err = e.c.Replay(ctx, rs[0].Deliveries[0].ID)
	assert.ErrorIs(t, err, notify.ErrNotDead)
	err = e.c.Replay(ctx, "nope")
	assert.ErrorIs(t, err, notify.ErrNotFound)
}

func TestHealthReadyOpenAPIWebhooks(t *testing.T) {
	ready := error(nil)
	hooked := false
	e := newEnv(t, func(c *Config) {
		c.Ready = func(context.Context) error { return ready }
		c.Webhooks = map[string]http.Handler{"/v1/webhooks/twilio": http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			hooked = true
			w.WriteHeader(204)
		})}
	})
	for path, want := range map[string]int{"/healthz": 200, "/readyz": 200, "/v1/openapi.yaml": 200, "/v1/webhooks/twilio": 204} {
		resp, err := http.Get(e.srv.URL + path)
		require.NoError(t, err)
		resp.Body.Close()
		assert.Equal(t, want, resp.StatusCode, path)
	}
	assert.True(t, hooked)
	ready = context.DeadlineExceeded
	status, p, _ := e.raw(t, "GET", "/readyz", nil, "")
	assert.Equal(t, 503, status)
	assert.NotContains(t, p.Detail, "deadline", "no internal error text")
}

// A panic in an endpoint answers a 500 problem without its text.
func TestPanicIs500(t *testing.T) {
	e := newEnv(t)
	e.h.cfg.Dispatcher = nil // every Dispatcher call panics
	_, err := e.c.Contact(context.Background(), "ana")
	var p *Problem
	require.ErrorAs(t, err, &p)
	assert.Equal(t, 500, p.Status)
	assert.NotContains(t, p.Detail, "nil pointer")
	assert.NotContains(t, p.Detail, "goroutine")
}
