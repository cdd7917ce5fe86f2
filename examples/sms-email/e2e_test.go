package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/sesv2"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gonotify/notify"
	"github.com/gonotify/notify/channel/email"
	"github.com/gonotify/notify/channel/sms"
	"github.com/gonotify/notify/internal/testenv"
	qmem "github.com/gonotify/notify/queue/memory"
	smem "github.com/gonotify/notify/store/memory"
)

func needSES(t *testing.T) string {
	return testenv.Need(t, "NOTIFY_TEST_SES_URL", "aws-ses-v2-local (a local SES v2 server)")
}

// pipeline is a Dispatcher with the real SMS and email channels on memory
// backends, running until the test ends.
type pipeline struct {
	d     *notify.Dispatcher
	store *smem.Store
}

func startPipeline(t *testing.T, twilioURL, sesURL string, retry notify.RetryPolicy) *pipeline {
	t.Helper()
	logger := slog.New(slog.DiscardHandler)
	smsCh, err := sms.New(sms.Config{AccountSID: localAccountSID, AuthToken: localAuthToken, From: "+15005550006",
		BaseURL: twilioURL, Logger: logger})
	require.NoError(t, err)
	api := sesv2.New(sesv2.Options{Region: "us-east-1", BaseEndpoint: aws.String(sesURL),
		Credentials: credentials.NewStaticCredentialsProvider("local", "local", "")})
	emailCh, err := email.New(api, email.Config{From: "Acme <no-reply@acme.example>", Logger: logger})
	require.NoError(t, err)
	queue := qmem.New(qmem.Config{})
	t.Cleanup(func() { _ = queue.Close() })
	store := smem.New(smem.Config{})
	d, err := notify.New(notify.Config{Queue: queue, Store: store, Channels: []notify.Channel{smsCh, emailCh},
		Retry: retry, Logger: logger})
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		assert.NoError(t, <-done)
	})
	return &pipeline{d: d, store: store}
}

// final waits until every delivery of the receipt's notification is final.
func (p *pipeline) final(t *testing.T, r notify.Receipt) map[string]notify.DeliveryRecord {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	st, err := waitFinal(ctx, p.d, r.NotificationID)
	require.NoError(t, err)
	byChannel := map[string]notify.DeliveryRecord{}
	for _, s := range st {
		byChannel[s.Channel] = s
	}
	return byChannel
}

func uniqueEmail(name string) string {
	return fmt.Sprintf("%s-%d@example.com", name, time.Now().UnixNano())
}

// TestOptOutSkipsNextSMSKeepsEmail: Twilio's 21610 stores an opt-out for
// the user's SMS in every category; the next SMS in the category is skipped
// at accept time (nothing reaches Twilio) while its email still goes out.
func TestOptOutSkipsNextSMSKeepsEmail(t *testing.T) {
	sesURL := needSES(t)
	lt, err := newLocalTwilio()
	require.NoError(t, err)
	defer lt.Close()
	p := startPipeline(t, lt.URL, sesURL, notify.RetryPolicy{})
	carol := notify.Contact{UserID: "carol", Phone: "+14155550123", Email: uniqueEmail("carol")}
	require.NoError(t, p.store.PutContact(t.Context(), carol))
	lt.stop(carol.Phone)

	n := notify.Notification{UserID: "carol", Category: "news",
		Content: &notify.Message{Body: "News!", Subject: "News", Text: "News in text"}}
	r1, err := p.d.Send(t.Context(), n)
	require.NoError(t, err)
	require.Len(t, r1.Deliveries, 2)
	st := p.final(t, r1)
	assert.Equal(t, notify.StatusOptedOut, st[notify.ChannelSMS].Status)
	assert.Equal(t, notify.StatusSent, st[notify.ChannelEmail].Status)
	consent, err := p.store.Consent(t.Context(), "carol", notify.AllCategories, notify.ChannelSMS)
	require.NoError(t, err)
	assert.Equal(t, notify.ConsentOptedOut, consent, "21610 (STOP) stored an opt-out for carol's SMS in every category")
	consent, err = p.store.Consent(t.Context(), "carol", "news", notify.ChannelEmail)
	require.NoError(t, err)
	assert.NotEqual(t, notify.ConsentOptedOut, consent, "email stays allowed")

	r2, err := p.d.Send(t.Context(), n)
	require.NoError(t, err)
	assert.Equal(t, []notify.Skip{{Channel: notify.ChannelSMS, Reason: notify.ReasonOptedOut}}, r2.Skipped)
	require.Len(t, r2.Deliveries, 1)
	assert.Equal(t, notify.ChannelEmail, r2.Deliveries[0].Channel)
	st = p.final(t, r2)
	assert.Equal(t, notify.StatusSkipped, st[notify.ChannelSMS].Status)
	assert.Equal(t, notify.StatusSent, st[notify.ChannelEmail].Status)
	assert.Empty(t, lt.messages(), "no SMS was accepted for carol")

	emails, err := countStored(t.Context(), sesURL, carol.Email)
	require.NoError(t, err)
	assert.Equal(t, 2, emails, "both emails reached SES")

	// STOP covers every category: another category's SMS is skipped too,
	// unless it is critical (Twilio then still answers 21610 for the number).
	r3, err := p.d.Send(t.Context(), notify.Notification{UserID: "carol", Category: "security", Channels: []string{notify.ChannelSMS},
		Content: &notify.Message{Body: "Your code is 1234"}})
	require.NoError(t, err)
	assert.Empty(t, r3.Deliveries)
	assert.Equal(t, []notify.Skip{{Channel: notify.ChannelSMS, Reason: notify.ReasonOptedOut}}, r3.Skipped)
	r4, err := p.d.Send(t.Context(), notify.Notification{UserID: "carol", Category: "security", Critical: true, Channels: []string{notify.ChannelSMS},
		Content: &notify.Message{Body: "Your code is 1234"}})
	require.NoError(t, err)
	require.Len(t, r4.Deliveries, 1)
	assert.Equal(t, notify.StatusOptedOut, p.final(t, r4)[notify.ChannelSMS].Status, "Twilio still answers 21610 for the number")
}

// throttlingProxy answers the first `throttle` SendEmail calls with SES's
// TooManyRequestsException and forwards every other request to the real
// (local) SES server.
type throttlingProxy struct {
	srv      *httptest.Server
	throttle int64
	calls    atomic.Int64
}

func newThrottlingProxy(t *testing.T, target string, throttle int64) *throttlingProxy {
	u, err := url.Parse(target)
	require.NoError(t, err)
	p := &throttlingProxy{throttle: throttle}
	rp := httputil.NewSingleHostReverseProxy(u)
	p.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/v2/email/outbound-emails" && p.calls.Add(1) <= p.throttle {
			w.Header().Set("Content-Type", "application/json")
			w.Header().Set("X-Amzn-Errortype", "TooManyRequestsException")
			w.WriteHeader(http.StatusTooManyRequests)
			_, _ = w.Write([]byte(`{"message":"Maximum sending rate exceeded."}`))
			return
		}
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(p.srv.Close)
	return p
}

// TestThrottledEmailRetriedThenDelivered: SES throttles twice; the
// Dispatcher retries (the SDK does not retry on its own) and the email is
// delivered exactly once.
func TestThrottledEmailRetriedThenDelivered(t *testing.T) {
	sesURL := needSES(t)
	lt, err := newLocalTwilio()
	require.NoError(t, err)
	defer lt.Close()
	proxy := newThrottlingProxy(t, sesURL, 2)
	p := startPipeline(t, lt.URL, proxy.srv.URL, notify.RetryPolicy{BaseDelay: 10 * time.Millisecond})
	to := uniqueEmail("dave")

	r, err := p.d.Send(t.Context(), notify.Notification{To: []notify.Address{{Channel: notify.ChannelEmail, Value: to}},
		Content: &notify.Message{Subject: "Receipt", Text: "Thanks for your order", HTML: "<p>Thanks</p>"}})
	require.NoError(t, err)
	st := p.final(t, r)[notify.ChannelEmail]
	assert.Equal(t, notify.StatusSent, st.Status)
	assert.Equal(t, 3, st.Attempts, "two throttled attempts, then delivered")
	assert.Equal(t, int64(3), proxy.calls.Load(), "one HTTP call per attempt")
	var retried int
	for _, e := range st.Events {
		if e.Status == notify.StatusRetrying {
			retried++
			assert.False(t, e.MaybeSent, "a throttled request was not processed")
		}
	}
	assert.Equal(t, 2, retried)
	n, err := countStored(t.Context(), sesURL, to)
	require.NoError(t, err)
	assert.Equal(t, 1, n, "delivered exactly once")
}

// TestSMSRetryAfterHonoured: Twilio's 20429 with Retry-After: 1 makes the
// Dispatcher wait at least a second before the next attempt.
func TestSMSRetryAfterHonoured(t *testing.T) {
	sesURL := needSES(t)
	var mu sync.Mutex
	var at []time.Time
	lt, err := newLocalTwilio()
	require.NoError(t, err)
	defer lt.Close()
	front := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		at = append(at, time.Now())
		first := len(at) == 1
		mu.Unlock()
		if first {
			w.Header().Set("Retry-After", "1")
			twilioErr(w, http.StatusTooManyRequests, 20429, "Too Many Requests")
			return
		}
		body, _ := io.ReadAll(r.Body)
		req, _ := http.NewRequestWithContext(r.Context(), r.Method, lt.URL+r.URL.Path, bytes.NewReader(body))
		req.Header = r.Header.Clone()
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		defer resp.Body.Close()
		w.Header().Set("Content-Type", resp.Header.Get("Content-Type"))
		w.WriteHeader(resp.StatusCode)
		_, _ = io.Copy(w, resp.Body)
	}))
	defer front.Close()
	p := startPipeline(t, front.URL, sesURL, notify.RetryPolicy{BaseDelay: 10 * time.Millisecond})
	r, err := p.d.Send(t.Context(), notify.Notification{To: []notify.Address{{Channel: notify.ChannelSMS, Value: "+14155550177"}},
		Content: &notify.Message{Body: "Your table is ready"}})
	require.NoError(t, err)
	st := p.final(t, r)[notify.ChannelSMS]
	assert.Equal(t, notify.StatusSent, st.Status)
	assert.Equal(t, 2, st.Attempts)
	mu.Lock()
	defer mu.Unlock()
	require.Len(t, at, 2)
	assert.GreaterOrEqual(t, at[1].Sub(at[0]), time.Second, "the retry waited for Retry-After")
	require.Len(t, lt.messages(), 1)
	assert.Equal(t, "Your table is ready", lt.messages()[0].Body)
}

// TestRun runs the example program against the local servers.
func TestRun(t *testing.T) {
	sesURL := needSES(t)
	var out bytes.Buffer
	env := map[string]string{"NOTIFY_TEST_SES_URL": sesURL}
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	require.NoError(t, run(ctx, &out, func(k string) string { return env[k] }))
	s := out.String()
	for _, want := range []string{
		"opted_out", "accept: sms skipped (opted_out)", "bob/*/sms allowed=false",
		"129 characters: 2 UCS-2 segments", "local Twilio accepted 1 SMS", "holds 3 emails for Ann and Bob",
	} {
		assert.Contains(t, s, want)
	}
}

func TestLocalTwilioRejectsBadAuth(t *testing.T) {
	lt, err := newLocalTwilio()
	require.NoError(t, err)
	defer lt.Close()
	ch, err := sms.New(sms.Config{AccountSID: localAccountSID, AuthToken: "wrong", From: "+15005550006", BaseURL: lt.URL})
	require.NoError(t, err)
	_, err = ch.Send(t.Context(), &notify.Delivery{ID: "x", Address: "+14155550100", Message: notify.Message{Body: "hi"}})
	assert.Equal(t, notify.OutcomeConfig, notify.Classify(err).Outcome)
	assert.Empty(t, lt.messages())
}
