package sms_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha1"
	"encoding/base64"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gonotify/notify"
	"github.com/gonotify/notify/channel/sms"
	"github.com/gonotify/notify/notifytest"
	qmem "github.com/gonotify/notify/queue/memory"
	smem "github.com/gonotify/notify/store/memory"
)

// twilioSignature signs a callback as Twilio does: HMAC-SHA1 with the auth
// token over the URL followed by every POST parameter, name then value, in
// name order; base64.
func twilioSignature(token, u string, form url.Values) string {
	keys := make([]string, 0, len(form))
	for k := range form {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var b strings.Builder
	b.WriteString(u)
	for _, k := range keys {
		b.WriteString(k + form.Get(k))
	}
	m := hmac.New(sha1.New, []byte(token))
	m.Write([]byte(b.String()))
	return base64.StdEncoding.EncodeToString(m.Sum(nil))
}

// postCallback posts form to u as Twilio would, signed with token for
// signedURL (u itself when empty).
func postCallback(t *testing.T, u, signedURL, token string, form url.Values) int {
	t.Helper()
	return postCallbackWith(t, u, signedURL, token, form, nil)
}

// postCallbackWith is postCallback with mod applied to the request (its
// headers, its Host).
func postCallbackWith(t *testing.T, u, signedURL, token string, form url.Values, mod func(*http.Request)) int {
	t.Helper()
	if signedURL == "" {
		signedURL = u
	}
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, u, strings.NewReader(form.Encode()))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("X-Twilio-Signature", twilioSignature(token, signedURL, form))
	if mod != nil {
		mod(req)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	_ = resp.Body.Close()
	return resp.StatusCode
}

// statusServer serves a StatusHandler whose PublicURL is the server's own
// URL with path (unless mod changes it); it returns that URL.
func statusServer(t *testing.T, rec notify.FeedbackRecorder, path string, mod func(*sms.StatusHandlerConfig)) (*httptest.Server, string) {
	t.Helper()
	srv := httptest.NewUnstartedServer(nil)
	public := "http://" + srv.Listener.Addr().String() + path
	cfg := sms.StatusHandlerConfig{AuthToken: testToken, Recorder: rec, PublicURL: public, Logger: slog.New(slog.DiscardHandler)}
	if mod != nil {
		mod(&cfg)
	}
	h, err := sms.NewStatusHandler(cfg)
	require.NoError(t, err)
	srv.Config.Handler = h
	srv.Start()
	t.Cleanup(srv.Close)
	return srv, public
}

func callback(status, code string) url.Values {
	f := url.Values{"MessageSid": {"SM123"}, "MessageStatus": {status}, "AccountSid": {testSID},
		"To": {"+14155550100"}, "From": {testFrom}, "ApiVersion": {"2010-04-01"}}
	if code != "" {
		f.Set("ErrorCode", code)
	}
	return f
}

// Every final status and error code becomes the Feedback it means; other
// statuses are acknowledged and dropped.
func TestStatusHandlerOutcomes(t *testing.T) {
	for _, tc := range []struct {
		status, code string
		recorded     bool
		outcome      notify.Outcome // when an error
		everywhere   bool
	}{
		{status: "delivered", recorded: true, outcome: -1},
		{status: "undelivered", code: "30005", recorded: true, outcome: notify.OutcomeInvalidRecipient},
		{status: "undelivered", code: "30006", recorded: true, outcome: notify.OutcomeInvalidRecipient},
		{status: "failed", code: "21614", recorded: true, outcome: notify.OutcomeInvalidRecipient},
		{status: "failed", code: "21610", recorded: true, outcome: notify.OutcomeOptedOut, everywhere: true},
		{status: "undelivered", code: "30003", recorded: true, outcome: notify.OutcomePermanent},
		{status: "undelivered", code: "30007", recorded: true, outcome: notify.OutcomePermanent},
		{status: "failed", recorded: true, outcome: notify.OutcomePermanent},
		{status: "queued"}, {status: "sending"}, {status: "sent"}, {status: "accepted"},
	} {
		t.Run(tc.status+"/"+tc.code, func(t *testing.T) {
			rec := &notifytest.FeedbackRecorder{}
			_, public := statusServer(t, rec, "/twilio/status", nil)
			u := public + "?notify_delivery=d1"
			require.Equal(t, http.StatusNoContent, postCallback(t, u, "", testToken, callback(tc.status, tc.code)))
			got := rec.Reports()
			if !tc.recorded {
				assert.Empty(t, got)
				return
			}
			require.Len(t, got, 1)
			assert.Equal(t, "d1", got[0].DeliveryID)
			assert.Equal(t, "SM123", got[0].ProviderID)
			if tc.outcome < 0 {
				assert.NoError(t, got[0].Err)
				return
			}
			require.Error(t, got[0].Err)
			oe := notify.Classify(got[0].Err)
			assert.Equal(t, tc.outcome, oe.Outcome)
			assert.Equal(t, tc.everywhere, oe.AllCategories)
			if tc.code != "" {
				assert.Contains(t, got[0].Err.Error(), tc.code)
			}
		})
	}
}

func TestStatusHandlerRejects(t *testing.T) {
	rec := &notifytest.FeedbackRecorder{}
	srv, _ := statusServer(t, rec, "/cb", nil)
	u := srv.URL + "/cb?notify_delivery=d1"
	assert.Equal(t, http.StatusForbidden, postCallback(t, u, "", "wrong-token", callback("delivered", "")), "signed with another token")
	assert.Equal(t, http.StatusForbidden, postCallback(t, srv.URL+"/cb?notify_delivery=d2", u, testToken, callback("delivered", "")),
		"the delivery ID is part of what is signed")
	resp, err := http.Get(u)
	require.NoError(t, err)
	_ = resp.Body.Close()
	assert.Equal(t, http.StatusMethodNotAllowed, resp.StatusCode)
	assert.Equal(t, http.StatusNoContent, postCallback(t, srv.URL+"/cb", "", testToken, callback("delivered", "")),
		"a message notify did not send: dropped")
	assert.Empty(t, rec.Reports())
}

// TestStatusHandlerBodyLimit: a callback of 64 KiB is read, one byte more
// is refused with 400 before its signature is looked at.
func TestStatusHandlerBodyLimit(t *testing.T) {
	rec := &notifytest.FeedbackRecorder{}
	srv, _ := statusServer(t, rec, "/cb", nil)
	u := srv.URL + "/cb?notify_delivery=d1"
	form := callback("delivered", "")
	form.Set("Pad", "")
	form.Set("Pad", strings.Repeat("x", 64<<10-len(form.Encode())))
	require.Len(t, form.Encode(), 64<<10)
	assert.Equal(t, http.StatusNoContent, postCallback(t, u, "", testToken, form), "at the limit")
	require.Len(t, rec.Reports(), 1)
	form.Set("Pad", form.Get("Pad")+"x")
	assert.Equal(t, http.StatusBadRequest, postCallback(t, u, "", testToken, form), "over the limit")
	assert.Len(t, rec.Reports(), 1)
}

func TestStatusHandlerRecorderErrors(t *testing.T) {
	rec := &notifytest.FeedbackRecorder{}
	rec.Fail(notify.ErrNotFound)
	srv, _ := statusServer(t, rec, "/cb", nil)
	u := srv.URL + "/cb?notify_delivery=d1"
	assert.Equal(t, http.StatusNoContent, postCallback(t, u, "", testToken, callback("delivered", "")), "an unknown delivery is dropped")
	rec.Fail(errors.New("database down"))
	assert.Equal(t, http.StatusInternalServerError, postCallback(t, u, "", testToken, callback("delivered", "")), "Twilio may retry")
}

// Behind a proxy the signed URL is the public one, not what the handler sees.
func TestStatusHandlerPublicURL(t *testing.T) {
	rec := &notifytest.FeedbackRecorder{}
	public := "https://hooks.example.com/twilio/status"
	srv, _ := statusServer(t, rec, "", func(c *sms.StatusHandlerConfig) { c.PublicURL = public })
	q := "?notify_delivery=d1"
	assert.Equal(t, http.StatusNoContent, postCallback(t, srv.URL+"/internal/path"+q, public+q, testToken, callback("delivered", "")))
	assert.Len(t, rec.Reports(), 1)
	_, err := sms.NewStatusHandler(sms.StatusHandlerConfig{AuthToken: testToken, Recorder: rec, PublicURL: "/relative"})
	assert.Error(t, err)
	_, err = sms.NewStatusHandler(sms.StatusHandlerConfig{Recorder: rec})
	assert.ErrorContains(t, err, "AuthToken")
}

// End to end: the SMS goes out with a callback URL naming its delivery;
// Twilio's "undelivered 30005" on it marks the delivery undelivered and
// removes the dead number, so the next notification has nowhere to go.
func TestStatusCallbackThroughDispatcher(t *testing.T) {
	f := newFakeTwilio(t)
	store := smem.New(smem.Config{})
	queue := qmem.New(qmem.Config{})
	t.Cleanup(func() { _ = queue.Close() })
	var d *notify.Dispatcher
	var hsrv *httptest.Server
	hsrv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h, err := sms.NewStatusHandler(sms.StatusHandlerConfig{AuthToken: testToken, Recorder: d, PublicURL: hsrv.URL + "/twilio/status",
			Logger: slog.New(slog.DiscardHandler)})
		if err != nil {
			http.Error(w, err.Error(), 500)
			return
		}
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(hsrv.Close)
	ch := newChannel(t, f, func(c *sms.Config) { c.StatusCallback = hsrv.URL + "/twilio/status" })
	var err error
	d, err = notify.New(notify.Config{Queue: queue, Store: store, Channels: []notify.Channel{ch},
		Logger: slog.New(slog.DiscardHandler)})
	require.NoError(t, err)
	require.NoError(t, store.PutContact(t.Context(), notify.Contact{UserID: "u1", Phone: "+14155550100"}))
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() { _ = d.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()

	r, err := d.Send(t.Context(), notify.Notification{UserID: "u1", Content: &notify.Message{Body: "hi"}})
	require.NoError(t, err)
	require.Len(t, r.Deliveries, 1)
	require.Eventually(t, func() bool {
		st, err := d.Status(t.Context(), r.NotificationID)
		return err == nil && st[0].Status == notify.StatusSent
	}, 10*time.Second, 5*time.Millisecond)
	cb := f.received()[0].Get("StatusCallback")
	require.Contains(t, cb, "notify_delivery="+r.Deliveries[0].ID)

	require.Equal(t, http.StatusNoContent, postCallback(t, cb, "", testToken, callback("undelivered", "30005")))
	st, err := d.Status(t.Context(), r.NotificationID)
	require.NoError(t, err)
	assert.Equal(t, notify.StatusUndelivered, st[0].Status)
	assert.Contains(t, st[0].Reason, "30005")
	c, err := store.Contact(t.Context(), "u1")
	require.NoError(t, err)
	assert.Empty(t, c.Phone, "the dead number is removed")

	r2, err := d.Send(t.Context(), notify.Notification{UserID: "u1", Content: &notify.Message{Body: "again"}})
	require.NoError(t, err)
	assert.Empty(t, r2.Deliveries, "u1 has no number left")
	assert.Len(t, f.received(), 1)
}

// The host's callback URL keeps its own query byte for byte; the delivery
// ID is appended.
func TestCallbackURLKeepsTheQuery(t *testing.T) {
	f := newFakeTwilio(t)
	ch := newChannel(t, f, func(c *sms.Config) { c.StatusCallback = "https://example.com/cb?b=1&a=x:y" })
	_, err := ch.Send(t.Context(), delivery("+14155550100", "hi"))
	require.NoError(t, err)
	assert.Equal(t, "https://example.com/cb?b=1&a=x:y&notify_delivery=d-%2B14155550100", f.received()[0].Get("StatusCallback"))
}

// Behind http.StripPrefix the signed URL is still the one Twilio called.
func TestStatusHandlerUnderStripPrefix(t *testing.T) {
	rec := &notifytest.FeedbackRecorder{}
	h, err := sms.NewStatusHandler(sms.StatusHandlerConfig{AuthToken: testToken, Recorder: rec, TrustForwardedHeaders: true,
		Logger: slog.New(slog.DiscardHandler)})
	require.NoError(t, err)
	srv := httptest.NewServer(http.StripPrefix("/hooks", h))
	t.Cleanup(srv.Close)
	u := srv.URL + "/hooks/twilio?notify_delivery=d1"
	assert.Equal(t, http.StatusNoContent, postCallback(t, u, "", testToken, callback("delivered", "")))
	assert.Len(t, rec.Reports(), 1)
}

// Without PublicURL the handler would have to believe the request's Host
// and X-Forwarded-Proto; it is refused unless the host opts in.
func TestStatusHandlerRequiresPublicURL(t *testing.T) {
	rec := &notifytest.FeedbackRecorder{}
	_, err := sms.NewStatusHandler(sms.StatusHandlerConfig{AuthToken: testToken, Recorder: rec})
	require.Error(t, err)
	assert.ErrorContains(t, err, "PublicURL")
	assert.ErrorContains(t, err, "TrustForwardedHeaders")
	_, err = sms.NewStatusHandler(sms.StatusHandlerConfig{AuthToken: testToken, Recorder: rec,
		PublicURL: "https://hooks.example.com/twilio/status", TrustForwardedHeaders: true})
	assert.ErrorContains(t, err, "not both")
	_, err = sms.NewStatusHandler(sms.StatusHandlerConfig{AuthToken: testToken, Recorder: rec, TrustForwardedHeaders: true})
	assert.NoError(t, err)
}

// With PublicURL, a callback Twilio signed for another URL of the account
// (another app's host, or http for https) does not verify, whatever Host
// and X-Forwarded-* headers the request claims.
func TestStatusHandlerIgnoresSpoofedHost(t *testing.T) {
	rec := &notifytest.FeedbackRecorder{}
	srv, public := statusServer(t, rec, "/cb", nil)
	q := "?notify_delivery=d1"
	elsewhere := "https://other-app.example.com/cb" + q
	spoof := func(r *http.Request) {
		r.Host = "other-app.example.com"
		r.Header.Set("X-Forwarded-Proto", "https")
	}
	assert.Equal(t, http.StatusForbidden, postCallbackWith(t, srv.URL+"/cb"+q, elsewhere, testToken, callback("delivered", ""), spoof),
		"signed for another host, Host and X-Forwarded-Proto spoofed to match")
	assert.Equal(t, http.StatusForbidden, postCallbackWith(t, srv.URL+"/cb"+q, elsewhere, testToken, callback("delivered", ""),
		func(r *http.Request) {
			r.Header.Set("X-Forwarded-Host", "other-app.example.com")
			r.Header.Set("X-Forwarded-Proto", "https")
		}),
		"signed for another host, X-Forwarded-Host spoofed to match")
	assert.Empty(t, rec.Reports())
	assert.Equal(t, http.StatusNoContent, postCallbackWith(t, srv.URL+"/cb"+q, public+q, testToken, callback("delivered", ""), spoof),
		"signed for PublicURL: verifies whatever the headers say")
	assert.Len(t, rec.Reports(), 1)
}

// With TrustForwardedHeaders the signed URL is rebuilt from the proxy's
// headers: scheme from X-Forwarded-Proto, host from X-Forwarded-Host or Host.
func TestStatusHandlerTrustForwardedHeaders(t *testing.T) {
	rec := &notifytest.FeedbackRecorder{}
	h, err := sms.NewStatusHandler(sms.StatusHandlerConfig{AuthToken: testToken, Recorder: rec, TrustForwardedHeaders: true,
		Logger: slog.New(slog.DiscardHandler)})
	require.NoError(t, err)
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	u := srv.URL + "/twilio/status?notify_delivery=d1"
	signed := "https://hooks.example.com/twilio/status?notify_delivery=d1"
	assert.Equal(t, http.StatusNoContent, postCallbackWith(t, u, signed, testToken, callback("delivered", ""), func(r *http.Request) {
		r.Host = "hooks.example.com"
		r.Header.Set("X-Forwarded-Proto", "https")
	}), "Host and X-Forwarded-Proto")
	assert.Equal(t, http.StatusNoContent, postCallbackWith(t, u, signed, testToken, callback("delivered", ""), func(r *http.Request) {
		r.Header.Set("X-Forwarded-Host", "hooks.example.com")
		r.Header.Set("X-Forwarded-Proto", "https, http")
	}), "X-Forwarded-Host, and the first X-Forwarded-Proto")
	assert.Equal(t, http.StatusForbidden, postCallbackWith(t, u, signed, testToken, callback("delivered", ""), func(r *http.Request) {
		r.Host = "hooks.example.com"
	}), "no X-Forwarded-Proto: http, which is not what was signed")
	assert.Len(t, rec.Reports(), 2)
}
