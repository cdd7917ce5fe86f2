package sms_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/twilio/twilio-go/client"

	"github.com/gonotify/notify"
	"github.com/gonotify/notify/channel/sms"
)

const (
	testSID   = "AC0123456789abcdef0123456789abcdef"
	testToken = "s3cr3tT0ken"
	testFrom  = "+15005550006"
)

// reply is what the fake Twilio answers to one recipient.
type reply struct {
	status int
	header map[string]string
	body   string // sent as is
	hang   bool   // never answer; wait for the client to give up
}

// twilioError is the body of a Twilio REST error.
func twilioError(status, code int, msg string) reply {
	b, _ := json.Marshal(map[string]any{
		"code": code, "message": msg, "more_info": "https://www.twilio.com/docs/errors/" + strconv.Itoa(code), "status": status,
	})
	return reply{status: status, body: string(b), header: map[string]string{"Content-Type": "application/json"}}
}

// htmlError is an error page from something in front of Twilio.
func htmlError(status int, header map[string]string) reply {
	if header == nil {
		header = map[string]string{}
	}
	header["Content-Type"] = "text/html"
	return reply{status: status, header: header, body: "<html><head><title>" + http.StatusText(status) +
		"</title></head><body><h1>" + http.StatusText(status) + "</h1></body></html>"}
}

// fakeTwilio imitates the Messages API: POST
// /2010-04-01/Accounts/{AccountSid}/Messages.json, form encoded, HTTP basic
// auth, 201 with the message resource as JSON, errors as Twilio's JSON.
type fakeTwilio struct {
	t   *testing.T
	srv *httptest.Server

	mu       sync.Mutex
	replies  map[string]reply // by To
	requests []url.Values
	auths    []string
	agents   []string
	hung     chan struct{} // closed by Close: releases hanging handlers
}

func newFakeTwilio(t *testing.T) *fakeTwilio {
	t.Helper()
	f := &fakeTwilio{t: t, replies: map[string]reply{}, hung: make(chan struct{})}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(func() { close(f.hung); f.srv.Close() })
	return f
}

func (f *fakeTwilio) on(to string, r reply) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.replies[to] = r
}

func (f *fakeTwilio) serve(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost || r.URL.Path != "/2010-04-01/Accounts/"+testSID+"/Messages.json" {
		http.Error(w, "<html>not found</html>", http.StatusNotFound)
		return
	}
	user, pass, ok := r.BasicAuth()
	if !ok || user != testSID || pass != testToken {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusUnauthorized)
		_, _ = w.Write([]byte(`{"code":20003,"message":"Authenticate","more_info":"https://www.twilio.com/docs/errors/20003","status":401}`))
		return
	}
	if ct := r.Header.Get("Content-Type"); ct != "application/x-www-form-urlencoded" {
		http.Error(w, "bad content type "+ct, http.StatusUnsupportedMediaType)
		return
	}
	if err := r.ParseForm(); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	to := r.PostForm.Get("To")
	f.mu.Lock()
	f.requests = append(f.requests, r.PostForm)
	f.auths = append(f.auths, user)
	f.agents = append(f.agents, r.UserAgent())
	rep, scripted := f.replies[to]
	seq := len(f.requests)
	f.mu.Unlock()
	if rep.hang {
		select {
		case <-r.Context().Done():
		case <-f.hung:
		}
		return
	}
	if !scripted {
		segs, _ := sms.Segments(r.PostForm.Get("Body"))
		b, _ := json.Marshal(map[string]any{
			"sid": "SM" + strings.Repeat("0", 30) + fmt.Sprintf("%02d", seq%100), "account_sid": testSID,
			"to": to, "from": r.PostForm.Get("From"), "body": r.PostForm.Get("Body"), "status": "queued",
			"num_segments": strconv.Itoa(segs), "direction": "outbound-api", "api_version": "2010-04-01",
			"messaging_service_sid": r.PostForm.Get("MessagingServiceSid"),
		})
		rep = reply{status: http.StatusCreated, body: string(b), header: map[string]string{"Content-Type": "application/json"}}
	}
	for k, v := range rep.header {
		w.Header().Set(k, v)
	}
	w.WriteHeader(rep.status)
	_, _ = w.Write([]byte(rep.body))
}

func (f *fakeTwilio) received() []url.Values {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]url.Values(nil), f.requests...)
}

func newChannel(t *testing.T, f *fakeTwilio, mod func(*sms.Config)) *sms.Channel {
	t.Helper()
	cfg := sms.Config{AccountSID: testSID, AuthToken: testToken, From: testFrom, BaseURL: f.srv.URL,
		Logger: slog.New(slog.DiscardHandler)}
	if mod != nil {
		mod(&cfg)
	}
	ch, err := sms.New(cfg)
	require.NoError(t, err)
	t.Cleanup(func() { _ = ch.Close() })
	return ch
}

func delivery(to, body string) *notify.Delivery {
	return &notify.Delivery{ID: "d-" + to, NotificationID: "n1", Channel: notify.ChannelSMS, Category: "default",
		Address: to, Message: notify.Message{Body: body}}
}

func TestSendDelivered(t *testing.T) {
	f := newFakeTwilio(t)
	ch := newChannel(t, f, func(c *sms.Config) { c.StatusCallback = "https://example.com/twilio/status" })
	d := delivery("+14155550100", "Your code is 123456")
	require.NoError(t, ch.Validate(d))

	res, err := ch.Send(t.Context(), d)
	require.NoError(t, err)
	assert.True(t, strings.HasPrefix(res.ProviderID, "SM"), res.ProviderID)
	assert.Equal(t, 1, res.Units)

	reqs := f.received()
	require.Len(t, reqs, 1)
	assert.Equal(t, "+14155550100", reqs[0].Get("To"))
	assert.Equal(t, testFrom, reqs[0].Get("From"))
	assert.Equal(t, "Your code is 123456", reqs[0].Get("Body"))
	assert.Equal(t, "https://example.com/twilio/status?notify_delivery=d-%2B14155550100", reqs[0].Get("StatusCallback"),
		"the callback URL names the delivery")
	assert.Empty(t, reqs[0].Get("MessagingServiceSid"))
	assert.Empty(t, reqs[0].Get("ValidityPeriod"))
	assert.Equal(t, testSID, f.auths[0])
	assert.Contains(t, f.agents[0], "twilio-go/")
}

func TestSendOptionsAndSegments(t *testing.T) {
	f := newFakeTwilio(t)
	ch := newChannel(t, f, nil)
	long := strings.Repeat("Olá, tudo bem? ", 10) // 150 characters, UCS-2: 3 segments
	d := delivery("+351912345678", long)
	d.Options = json.RawMessage(`{"from":"ACME","messaging_service_sid":"MG0123456789abcdef0123456789abcdef",
		"status_callback":"https://example.com/cb","validity_period":600}`)
	require.NoError(t, ch.Validate(d))

	res, err := ch.Send(t.Context(), d)
	require.NoError(t, err)
	assert.Equal(t, 3, res.Units)

	reqs := f.received()
	require.Len(t, reqs, 1)
	assert.Equal(t, "ACME", reqs[0].Get("From"))
	assert.Equal(t, "MG0123456789abcdef0123456789abcdef", reqs[0].Get("MessagingServiceSid"))
	assert.Equal(t, "https://example.com/cb?notify_delivery=d-%2B351912345678", reqs[0].Get("StatusCallback"))
	assert.Equal(t, "600", reqs[0].Get("ValidityPeriod"))
	assert.Equal(t, long, reqs[0].Get("Body"))
}

func TestSendValidityFromExpiry(t *testing.T) {
	f := newFakeTwilio(t)
	ch := newChannel(t, f, nil)
	d := delivery("+14155550100", "hi")
	d.ExpiresAt = time.Now().Add(90 * time.Second)
	_, err := ch.Send(t.Context(), d)
	require.NoError(t, err)
	v, err := strconv.Atoi(f.received()[0].Get("ValidityPeriod"))
	require.NoError(t, err)
	assert.InDelta(t, 90, v, 2, "ValidityPeriod follows the delivery's expiry")

	d.ExpiresAt = time.Now().Add(-time.Second)
	_, err = ch.Send(t.Context(), d)
	assert.Equal(t, notify.OutcomePermanent, notify.Classify(err).Outcome)
	assert.Len(t, f.received(), 1, "an expired delivery is not sent")
}

func TestSendMessagingServiceOnly(t *testing.T) {
	f := newFakeTwilio(t)
	ch := newChannel(t, f, func(c *sms.Config) { c.From = ""; c.MessagingServiceSID = "MG0123456789abcdef0123456789abcdef" })
	_, err := ch.Send(t.Context(), delivery("+14155550100", "hi"))
	require.NoError(t, err)
	req := f.received()[0]
	assert.Equal(t, "MG0123456789abcdef0123456789abcdef", req.Get("MessagingServiceSid"))
	_, hasFrom := req["From"]
	assert.False(t, hasFrom, "no From is sent when only a Messaging Service is configured")
}

// TestSendOutcomes runs every Twilio row of docs/PROVIDERS.md's outcome table.
func TestSendOutcomes(t *testing.T) {
	tests := []struct {
		name       string
		reply      reply
		outcome    notify.Outcome
		retryAfter time.Duration
		maybeSent  bool
		code       int // the TwilioRestError code that must stay reachable; 0: none
	}{
		{"21610 opted out", twilioError(400, 21610, "Attempt to send to unsubscribed recipient"), notify.OutcomeOptedOut, 0, false, 21610},
		{"21211 invalid To", twilioError(400, 21211, "Invalid 'To' Phone Number"), notify.OutcomeInvalidRecipient, 0, false, 21211},
		{"21614 not mobile", twilioError(400, 21614, "'To' number is not a valid mobile number"), notify.OutcomeInvalidRecipient, 0, false, 21614},
		{"21612 unreachable", twilioError(400, 21612, "The 'To' phone number is not currently reachable via SMS"), notify.OutcomeInvalidRecipient, 0, false, 21612},
		{"21635 landline", twilioError(400, 21635, "'To' number cannot be a landline"), notify.OutcomeInvalidRecipient, 0, false, 21635},
		{"20429 too many requests", withHeader(twilioError(429, 20429, "Too Many Requests"), "Retry-After", "7"), notify.OutcomeRetry, 7 * time.Second, false, 20429},
		{"HTTP 429 without Retry-After", twilioError(429, 20429, "Too Many Requests"), notify.OutcomeRetry, 0, false, 20429},
		{"21611 queue full", twilioError(400, 21611, "This 'From' number has exceeded the maximum number of queued messages"), notify.OutcomeRetry, 0, false, 21611},
		{"500 JSON", twilioError(500, 20500, "Internal Server Error"), notify.OutcomeRetry, 0, true, 20500},
		{"503 HTML page with Retry-After", htmlError(503, map[string]string{"Retry-After": "3"}), notify.OutcomeRetry, 3 * time.Second, true, 0},
		{"502 HTML page", htmlError(502, nil), notify.OutcomeRetry, 0, true, 0},
		{"20003 authentication", twilioError(401, 20003, "Authenticate"), notify.OutcomeConfig, 0, false, 20003},
		{"20404 not found", twilioError(404, 20404, "The requested resource was not found"), notify.OutcomeConfig, 0, false, 20404},
		{"21408 region disabled", twilioError(400, 21408, "Permission to send an SMS has not been enabled for the region"), notify.OutcomeConfig, 0, false, 21408},
		{"21606 From not owned", twilioError(400, 21606, "The 'From' phone number provided is not a valid message-capable Twilio phone number"), notify.OutcomeConfig, 0, false, 21606},
		{"21212 invalid From", twilioError(400, 21212, "Invalid From Number"), notify.OutcomeConfig, 0, false, 21212},
		{"21608 trial unverified", twilioError(400, 21608, "The number is unverified. Trial accounts cannot send messages to unverified numbers"), notify.OutcomeConfig, 0, false, 21608},
		{"403 HTML page", htmlError(403, nil), notify.OutcomeConfig, 0, false, 0},
		{"21602 body required", twilioError(400, 21602, "Message body is required"), notify.OutcomePermanent, 0, false, 21602},
		{"21617 body too long", twilioError(400, 21617, "The concatenated message body exceeds the 1600 character limit"), notify.OutcomePermanent, 0, false, 21617},
		{"other 400", twilioError(400, 21620, "Invalid media URL(s)"), notify.OutcomePermanent, 0, false, 21620},
		{"400 HTML page", htmlError(400, nil), notify.OutcomePermanent, 0, false, 0},
	}
	f := newFakeTwilio(t)
	ch := newChannel(t, f, nil)
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			to := fmt.Sprintf("+1415555%04d", i)
			f.on(to, tt.reply)
			_, err := ch.Send(t.Context(), delivery(to, "hello"))
			require.Error(t, err)
			oe := notify.Classify(err)
			var classified *notify.OutcomeError
			require.ErrorAs(t, err, &classified, "the error is classified, not left to the default")
			assert.Equal(t, tt.outcome, oe.Outcome, "outcome of %v", err)
			assert.Equal(t, tt.retryAfter, oe.RetryAfter)
			assert.Equal(t, tt.maybeSent, oe.MaybeSent)
			assert.Equal(t, tt.code == 21610, oe.AllCategories, "a STOP opts out of every category")
			if tt.code != 0 {
				var te *client.TwilioRestError
				require.ErrorAs(t, err, &te, "the SDK's error stays reachable")
				assert.Equal(t, tt.code, te.Code)
			}
			assert.NotContains(t, err.Error(), testToken, "the auth token never appears in errors")
		})
	}
}

func withHeader(r reply, k, v string) reply {
	h := map[string]string{}
	for hk, hv := range r.header {
		h[hk] = hv
	}
	h[k] = v
	r.header = h
	return r
}

func TestSendWrongToken(t *testing.T) {
	f := newFakeTwilio(t)
	ch := newChannel(t, f, func(c *sms.Config) { c.AuthToken = "wrongtoken" })
	_, err := ch.Send(t.Context(), delivery("+14155550100", "hi"))
	assert.Equal(t, notify.OutcomeConfig, notify.Classify(err).Outcome)
	assert.NotContains(t, err.Error(), "wrongtoken")
}

// TestSendRetryAfterPerRequest proves that each concurrent send sees its own
// response's status and Retry-After.
func TestSendRetryAfterPerRequest(t *testing.T) {
	f := newFakeTwilio(t)
	ch := newChannel(t, f, nil)
	const n = 40
	for i := range n {
		to := fmt.Sprintf("+1415556%04d", i)
		if i%2 == 0 {
			f.on(to, withHeader(twilioError(429, 20429, "Too Many Requests"), "Retry-After", strconv.Itoa(i+1)))
		}
	}
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() {
			_, errs[i] = ch.Send(t.Context(), delivery(fmt.Sprintf("+1415556%04d", i), "hi"))
		})
	}
	wg.Wait()
	for i, err := range errs {
		if i%2 == 1 {
			assert.NoError(t, err, "send %d", i)
			continue
		}
		oe := notify.Classify(err)
		assert.Equal(t, notify.OutcomeRetry, oe.Outcome, "send %d", i)
		assert.Equal(t, time.Duration(i+1)*time.Second, oe.RetryAfter, "send %d got another request's Retry-After", i)
	}
}

// TestSendCancel proves that canceling the context aborts a request that
// twilio-go itself would wait 10 s for, and that the outcome says the
// message may have been sent.
func TestSendCancel(t *testing.T) {
	f := newFakeTwilio(t)
	ch := newChannel(t, f, nil)
	f.on("+14155550199", reply{hang: true})
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() {
		_, err := ch.Send(ctx, delivery("+14155550199", "hi"))
		done <- err
	}()
	require.Eventually(t, func() bool { return len(f.received()) == 1 }, 5*time.Second, 5*time.Millisecond)
	cancel()
	select {
	case err := <-done:
		require.Error(t, err)
		assert.ErrorIs(t, err, context.Canceled)
		oe := notify.Classify(err)
		assert.Equal(t, notify.OutcomeRetry, oe.Outcome)
		assert.True(t, oe.MaybeSent, "the request was written: Twilio may have queued it")
	case <-time.After(5 * time.Second):
		t.Fatal("Send did not return after its context was canceled")
	}
}

func TestSendTimeout(t *testing.T) {
	f := newFakeTwilio(t)
	// Long enough that the request is written before it ends, even on a
	// loaded machine: MaybeSent depends on that.
	ch := newChannel(t, f, func(c *sms.Config) { c.Timeout = 500 * time.Millisecond })
	f.on("+14155550198", reply{hang: true})
	start := time.Now()
	_, err := ch.Send(t.Context(), delivery("+14155550198", "hi"))
	require.Error(t, err)
	assert.ErrorIs(t, err, context.DeadlineExceeded)
	assert.Less(t, time.Since(start), 5*time.Second)
	assert.True(t, notify.Classify(err).MaybeSent)
}

func TestSendCanceledBeforeSending(t *testing.T) {
	f := newFakeTwilio(t)
	ch := newChannel(t, f, nil)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	_, err := ch.Send(ctx, delivery("+14155550100", "hi"))
	require.Error(t, err)
	oe := notify.Classify(err)
	assert.Equal(t, notify.OutcomeRetry, oe.Outcome)
	assert.False(t, oe.MaybeSent, "nothing was written")
	assert.Empty(t, f.received())
}

func TestSendConnectionRefused(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	base := srv.URL
	srv.Close()
	ch, err := sms.New(sms.Config{AccountSID: testSID, AuthToken: testToken, From: testFrom, BaseURL: base})
	require.NoError(t, err)
	_, err = ch.Send(t.Context(), delivery("+14155550100", "hi"))
	require.Error(t, err)
	oe := notify.Classify(err)
	assert.Equal(t, notify.OutcomeRetry, oe.Outcome)
	assert.False(t, oe.MaybeSent, "a refused connection sent nothing")
}

func TestSendAcceptedButUnreadable(t *testing.T) {
	f := newFakeTwilio(t)
	ch := newChannel(t, f, nil)
	f.on("+14155550197", reply{status: 201, body: "<html>created</html>"})
	res, err := ch.Send(t.Context(), delivery("+14155550197", "hi"))
	require.NoError(t, err, "a 201 means Twilio took the message; retrying would send it twice")
	assert.Equal(t, 1, res.Units)
}

func TestNew(t *testing.T) {
	for _, tt := range []struct {
		name string
		cfg  sms.Config
		want string
	}{
		{"no account", sms.Config{AuthToken: "t", From: testFrom}, "AccountSID"},
		{"no token", sms.Config{AccountSID: testSID, From: testFrom}, "AuthToken"},
		{"half an API key", sms.Config{AccountSID: testSID, APIKey: "SK1", From: testFrom}, "APISecret"},
		{"token with a quote", sms.Config{AccountSID: testSID, AuthToken: `"abc"`, From: testFrom}, "letters and digits"},
		{"bad From", sms.Config{AccountSID: testSID, AuthToken: "t", From: "+0123"}, "Config.From"},
		{"bad service", sms.Config{AccountSID: testSID, AuthToken: "t", MessagingServiceSID: "MGx"}, "Config.MessagingServiceSID"},
		{"bad callback", sms.Config{AccountSID: testSID, AuthToken: "t", From: testFrom, StatusCallback: "/cb"}, "Config.StatusCallback"},
		{"bad base URL", sms.Config{AccountSID: testSID, AuthToken: "t", From: testFrom, BaseURL: "localhost:1"}, "BaseURL"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := sms.New(tt.cfg)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tt.want)
			assert.NotContains(t, err.Error(), `"abc"`)
		})
	}
}

func TestSendAPIKey(t *testing.T) {
	var gotUser, gotPass string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		gotUser, gotPass, _ = r.BasicAuth()
		w.WriteHeader(201)
		_, _ = w.Write([]byte(`{"sid":"SM1","num_segments":"1"}`))
	}))
	defer srv.Close()
	ch, err := sms.New(sms.Config{AccountSID: testSID, APIKey: "SKkey", APISecret: "secret", From: testFrom, BaseURL: srv.URL})
	require.NoError(t, err)
	res, err := ch.Send(t.Context(), delivery("+14155550100", "hi"))
	require.NoError(t, err)
	assert.Equal(t, "SM1", res.ProviderID)
	assert.Equal(t, "SKkey", gotUser)
	assert.Equal(t, "secret", gotPass)
}

func TestValidate(t *testing.T) {
	ch, err := sms.New(sms.Config{AccountSID: testSID, AuthToken: testToken, From: testFrom})
	require.NoError(t, err)
	noSender, err := sms.New(sms.Config{AccountSID: testSID, AuthToken: testToken})
	require.NoError(t, err)
	tests := []struct {
		name  string
		ch    *sms.Channel
		d     *notify.Delivery
		field string // "" means valid
	}{
		{"valid", ch, delivery("+14155550100", "hi"), ""},
		{"text used when no body", ch, &notify.Delivery{Address: "+14155550100", Message: notify.Message{Text: "hi"}}, ""},
		{"1600 GSM chars", ch, delivery("+14155550100", strings.Repeat("a", 1600)), ""},
		{"1600 emoji", ch, delivery("+14155550100", strings.Repeat("😀", 1600)), ""},
		{"not E.164", ch, delivery("4155550100", "hi"), notify.FieldAddress},
		{"leading zero", ch, delivery("+04155550100", "hi"), notify.FieldAddress},
		{"too long number", ch, delivery("+1234567890123456", "hi"), notify.FieldAddress},
		{"spaces", ch, delivery("+1 415 555 0100", "hi"), notify.FieldAddress},
		{"empty body", ch, delivery("+14155550100", ""), "Content"},
		{"1601 chars", ch, delivery("+14155550100", strings.Repeat("a", 1601)), "Content"},
		{"too long from template", ch, &notify.Delivery{Address: "+14155550100", Template: "t", Message: notify.Message{Body: strings.Repeat("é", 1601)}}, "Data"},
		{"invalid UTF-8", ch, delivery("+14155550100", "hi \xff"), "Content"},
		{"unknown option", ch, withOptions(delivery("+14155550100", "hi"), `{"form":"+14155550100"}`), "Options.sms"},
		{"bad option from", ch, withOptions(delivery("+14155550100", "hi"), `{"from":"+1"}`), "Options.sms.from"},
		{"bad validity", ch, withOptions(delivery("+14155550100", "hi"), `{"validity_period":36001}`), "Options.sms.validity_period"},
		{"bad callback", ch, withOptions(delivery("+14155550100", "hi"), `{"status_callback":"ftp://x"}`), "Options.sms.status_callback"},
		{"no sender", noSender, delivery("+14155550100", "hi"), "Options.sms.from"},
		{"sender from options", noSender, withOptions(delivery("+14155550100", "hi"), `{"from":"ACME Inc"}`), ""},
		{"short code", noSender, withOptions(delivery("+14155550100", "hi"), `{"from":"12345"}`), ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.ch.Validate(tt.d)
			if tt.field == "" {
				assert.NoError(t, err)
				return
			}
			var ve *notify.ValidationError
			require.ErrorAs(t, err, &ve)
			assert.Equal(t, tt.field, ve.Field, ve.Reason)
		})
	}
}

func withOptions(d *notify.Delivery, raw string) *notify.Delivery {
	d.Options = json.RawMessage(raw)
	return d
}

func TestBadOptionsAtSendArePermanent(t *testing.T) {
	f := newFakeTwilio(t)
	ch := newChannel(t, f, nil)
	_, err := ch.Send(t.Context(), withOptions(delivery("+14155550100", "hi"), `{"nope":1}`))
	assert.Equal(t, notify.OutcomePermanent, notify.Classify(err).Outcome)
	assert.Empty(t, f.received())
	assert.False(t, errors.Is(err, context.Canceled))
}

// TestSendReusesConnections: the per-send http.Client shares the channel's
// transport, so sends reuse one keep-alive connection instead of dialing
// each time, failed ones included (twilio-go neither drains nor closes an
// error body it cannot decode, such as a large HTML page; the channel's
// transport does).
func TestSendReusesConnections(t *testing.T) {
	f := &fakeTwilio{t: t, replies: map[string]reply{}, hung: make(chan struct{})}
	f.srv = httptest.NewUnstartedServer(http.HandlerFunc(f.serve))
	var conns atomic.Int64
	f.srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	f.srv.Start()
	t.Cleanup(func() { close(f.hung); f.srv.Close() })
	f.on("+14155550166", twilioError(400, 21610, "Attempt to send to unsubscribed recipient"))
	page := htmlError(503, nil)
	page.body = "<html><body>" + strings.Repeat("<p>Service Unavailable</p>", 400) + "</body></html>" // 10 kB, chunked
	f.on("+14155550167", page)
	ch := newChannel(t, f, nil)
	for i := range 21 {
		to := [...]string{"+14155550100", "+14155550166", "+14155550167"}[i%3]
		_, _ = ch.Send(t.Context(), delivery(to, "hi"))
	}
	require.Len(t, f.received(), 21)
	assert.Equal(t, int64(1), conns.Load(), "21 sequential sends used one connection")
}

// Validate counts segments into Delivery.Units, which Send reports in the
// Receipt; one segment stays zero (one).
func TestValidateSetsUnits(t *testing.T) {
	ch, err := sms.New(sms.Config{AccountSID: testSID, AuthToken: testToken, From: testFrom})
	require.NoError(t, err)
	for body, want := range map[string]int{"hi": 0, strings.Repeat("a", 161): 2, strings.Repeat("ж", 71): 2} {
		d := delivery("+14155550100", body)
		require.NoError(t, ch.Validate(d))
		assert.Equal(t, want, d.Units, "%d characters", len([]rune(body)))
	}
}
