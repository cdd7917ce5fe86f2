package email_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/sesv2"
	"github.com/aws/aws-sdk-go-v2/service/sesv2/types"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gonotify/notify"
	"github.com/gonotify/notify/channel/email"
	"github.com/gonotify/notify/internal/testenv"
)

// newSES returns an SES v2 client for endpoint with the SDK's defaults
// (its standard retryer included), as a host would build it.
func newSES(endpoint string) *sesv2.Client {
	return sesv2.New(sesv2.Options{
		Region:       "us-east-1",
		BaseEndpoint: aws.String(endpoint),
		Credentials:  credentials.NewStaticCredentialsProvider("AKIDTEST", "secretTEST", ""),
	})
}

func newChannel(t *testing.T, endpoint string, cfg email.Config) *email.Channel {
	t.Helper()
	if cfg.From == "" {
		cfg.From = "Acme Alerts <alerts@acme.example>"
	}
	cfg.Logger = slog.New(slog.DiscardHandler)
	ch, err := email.New(newSES(endpoint), cfg)
	require.NoError(t, err)
	return ch
}

func delivery(to string) *notify.Delivery {
	return &notify.Delivery{
		ID: "0190c0de-0000-7000-8000-000000000001", NotificationID: "0190c0de-0000-7000-8000-0000000000aa",
		Category: "marketing.weekly", Channel: notify.ChannelEmail, Address: to,
		Message: notify.Message{Subject: "Your weekly digest", Text: "Hello in text", HTML: "<p>Hello in <b>HTML</b></p>"},
	}
}

// storedEmail is one email in aws-ses-v2-local's /store.
type storedEmail struct {
	MessageID   string   `json:"messageId"`
	From        string   `json:"from"`
	ReplyTo     []string `json:"replyTo"`
	Destination struct {
		To  []string `json:"to"`
		Cc  []string `json:"cc"`
		Bcc []string `json:"bcc"`
	} `json:"destination"`
	Subject string `json:"subject"`
	Body    struct {
		HTML string `json:"html"`
		Text string `json:"text"`
	} `json:"body"`
	Headers []struct {
		Name  string `json:"name"`
		Value string `json:"value"`
	} `json:"headers"`
}

// stored returns what aws-ses-v2-local received for recipient to.
func stored(t *testing.T, base, to string) []storedEmail {
	t.Helper()
	resp, err := http.Get(base + "/store")
	require.NoError(t, err)
	defer resp.Body.Close()
	var st struct {
		Emails []storedEmail `json:"emails"`
	}
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&st))
	var out []storedEmail
	for _, e := range st.Emails {
		for _, a := range e.Destination.To {
			if a == to {
				out = append(out, e)
			}
		}
	}
	return out
}

// unique makes a recipient no other test (or earlier run against the same
// server) used.
func unique(t *testing.T, local string) string {
	return fmt.Sprintf("%s-%d@example.com", local, time.Now().UnixNano())
}

func TestSendLocalSES(t *testing.T) {
	base := testenv.Need(t, "NOTIFY_TEST_SES_URL", "aws-ses-v2-local (a local SES v2 server)")
	ch := newChannel(t, base, email.Config{
		ReplyTo: []string{"support@acme.example"},
		Headers: map[string]string{"X-Campaign": "weekly-42"},
	})
	to := unique(t, "ann")
	d := delivery(to)
	d.Message.Subject = "Résumé of your week ✓"
	d.Options = json.RawMessage(`{"headers":{"X-Entity-Ref-ID":"abc-123"},
		"list_unsubscribe":["https://acme.example/unsub?u=ann","mailto:unsub@acme.example?subject=unsub"],"one_click":true}`)
	require.NoError(t, ch.Validate(d))

	res, err := ch.Send(t.Context(), d)
	require.NoError(t, err)
	require.NotEmpty(t, res.ProviderID)

	got := stored(t, base, to)
	require.Len(t, got, 1, "aws-ses-v2-local received exactly one email for %s", to)
	e := got[0]
	assert.Equal(t, res.ProviderID, e.MessageID)
	assert.Equal(t, `"Acme Alerts" <alerts@acme.example>`, e.From)
	assert.Equal(t, []string{to}, e.Destination.To)
	assert.Empty(t, e.Destination.Cc)
	assert.Empty(t, e.Destination.Bcc)
	assert.Equal(t, []string{"support@acme.example"}, e.ReplyTo)
	assert.Equal(t, "Résumé of your week ✓", e.Subject)
	assert.Equal(t, "Hello in text", e.Body.Text)
	assert.Equal(t, "<p>Hello in <b>HTML</b></p>", e.Body.HTML)
	headers := map[string]string{}
	for _, h := range e.Headers {
		headers[h.Name] = h.Value
	}
	assert.Equal(t, map[string]string{
		"X-Campaign":            "weekly-42",
		"X-Entity-Ref-ID":       "abc-123",
		"List-Unsubscribe":      "<https://acme.example/unsub?u=ann>, <mailto:unsub@acme.example?subject=unsub>",
		"List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
	}, headers)
}

func TestSendLocalSESTextOnlyAndUnsubscribeHook(t *testing.T) {
	base := testenv.Need(t, "NOTIFY_TEST_SES_URL", "aws-ses-v2-local (a local SES v2 server)")
	ch := newChannel(t, base, email.Config{
		From: "no-reply@acme.example",
		Unsubscribe: func(d *notify.Delivery) ([]string, bool) {
			if strings.HasPrefix(d.Category, "marketing") {
				return []string{"https://acme.example/u/" + d.ID}, true
			}
			return nil, false
		},
	})
	to := unique(t, "bob")
	d := delivery(to)
	d.Category = "security"
	d.Message.HTML = ""
	_, err := ch.Send(t.Context(), d)
	require.NoError(t, err)
	got := stored(t, base, to)
	require.Len(t, got, 1)
	assert.Equal(t, "no-reply@acme.example", got[0].From)
	assert.Equal(t, "Hello in text", got[0].Body.Text)
	assert.Empty(t, got[0].Body.HTML)
	assert.Empty(t, got[0].Headers, "a transactional category gets no List-Unsubscribe")

	to2 := unique(t, "bob2")
	d2 := delivery(to2)
	_, err = ch.Send(t.Context(), d2)
	require.NoError(t, err)
	got = stored(t, base, to2)
	require.Len(t, got, 1)
	require.Len(t, got[0].Headers, 2)
	assert.Equal(t, "List-Unsubscribe", got[0].Headers[0].Name)
	assert.Equal(t, "<https://acme.example/u/"+d2.ID+">", got[0].Headers[0].Value)
}

// sesReply is what the fake SES answers.
type sesReply struct {
	status  int
	errType string // X-Amzn-Errortype
	message string
	header  map[string]string
	html    bool // an HTML page instead of JSON
	hang    bool
}

// fakeSES answers SendEmail (POST /v2/email/outbound-emails) the way SES v2
// does: JSON, errors typed by the X-Amzn-Errortype header.
type fakeSES struct {
	srv   *httptest.Server
	reply atomic.Pointer[sesReply] // nil: success
	calls atomic.Int64
	mu    sync.Mutex
	last  map[string]any
	auth  string
	stop  chan struct{}
}

func newFakeSES(t *testing.T) *fakeSES {
	f := &fakeSES{stop: make(chan struct{})}
	f.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || r.URL.Path != "/v2/email/outbound-emails" {
			http.Error(w, "unexpected "+r.Method+" "+r.URL.Path, http.StatusTeapot)
			return
		}
		f.calls.Add(1)
		var in map[string]any
		b, _ := io.ReadAll(r.Body)
		_ = json.Unmarshal(b, &in)
		f.mu.Lock()
		f.last, f.auth = in, r.Header.Get("Authorization")
		f.mu.Unlock()
		rep := f.reply.Load()
		if rep == nil {
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write([]byte(`{"MessageId":"0100018c-fake-message-id"}`))
			return
		}
		if rep.hang {
			select {
			case <-r.Context().Done():
			case <-f.stop:
			}
			return
		}
		for k, v := range rep.header {
			w.Header().Set(k, v)
		}
		if rep.html {
			w.Header().Set("Content-Type", "text/html")
			w.WriteHeader(rep.status)
			_, _ = w.Write([]byte("<html><body><h1>" + http.StatusText(rep.status) + "</h1></body></html>"))
			return
		}
		w.Header().Set("Content-Type", "application/json")
		if rep.errType != "" {
			w.Header().Set("X-Amzn-Errortype", rep.errType)
		}
		w.WriteHeader(rep.status)
		b, _ = json.Marshal(map[string]string{"message": rep.message})
		_, _ = w.Write(b)
	}))
	t.Cleanup(func() { close(f.stop); f.srv.Close() })
	return f
}

func (f *fakeSES) lastRequest() map[string]any {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.last
}

func TestSendWire(t *testing.T) {
	f := newFakeSES(t)
	ch := newChannel(t, f.srv.URL, email.Config{ConfigurationSet: "default-set", Tags: map[string]string{"app": "shop"}})
	d := delivery("Ann Example <ann@example.com>")
	d.Options = json.RawMessage(`{"configuration_set":"bulk-set","tags":{"campaign id":"spring/2026"}}`)
	res, err := ch.Send(t.Context(), d)
	require.NoError(t, err)
	assert.Equal(t, "0100018c-fake-message-id", res.ProviderID)

	in := f.lastRequest()
	assert.Equal(t, "bulk-set", in["ConfigurationSetName"])
	assert.Equal(t, `"Acme Alerts" <alerts@acme.example>`, in["FromEmailAddress"])
	assert.Equal(t, map[string]any{"ToAddresses": []any{`"Ann Example" <ann@example.com>`}}, in["Destination"])
	assert.ElementsMatch(t, []any{
		map[string]any{"Name": "notification_id", "Value": "0190c0de-0000-7000-8000-0000000000aa"},
		map[string]any{"Name": "delivery_id", "Value": "0190c0de-0000-7000-8000-000000000001"},
		map[string]any{"Name": "category", "Value": "marketing_weekly"},
		map[string]any{"Name": "app", "Value": "shop"},
		map[string]any{"Name": "campaign_id", "Value": "spring_2026"},
	}, in["EmailTags"])
	simple := in["Content"].(map[string]any)["Simple"].(map[string]any)
	assert.Equal(t, map[string]any{"Data": "Your weekly digest", "Charset": "UTF-8"}, simple["Subject"])
	f.mu.Lock()
	assert.Contains(t, f.auth, "AWS4-HMAC-SHA256 Credential=AKIDTEST/", "requests are SigV4 signed")
	f.mu.Unlock()
}

// TestSendOutcomes runs every SES row of docs/PROVIDERS.md's outcome table
// against typed errors, as SES v2 sends them.
func TestSendOutcomes(t *testing.T) {
	tests := []struct {
		name       string
		reply      sesReply
		outcome    notify.Outcome
		retryAfter time.Duration
		maybeSent  bool
	}{
		{"TooManyRequests", sesReply{status: 429, errType: "TooManyRequestsException", message: "Maximum sending rate exceeded."}, notify.OutcomeRetry, 0, false},
		{"TooManyRequests with Retry-After", sesReply{status: 429, errType: "TooManyRequestsException", message: "Maximum sending rate exceeded.", header: map[string]string{"Retry-After": "4"}}, notify.OutcomeRetry, 4 * time.Second, false},
		{"Throttling", sesReply{status: 400, errType: "ThrottlingException", message: "Rate exceeded"}, notify.OutcomeRetry, 0, false},
		{"InternalServiceError", sesReply{status: 500, errType: "InternalServiceErrorException", message: "internal"}, notify.OutcomeRetry, 0, true},
		{"503 HTML", sesReply{status: 503, html: true, header: map[string]string{"Retry-After": "2"}}, notify.OutcomeRetry, 2 * time.Second, true},
		{"502 HTML", sesReply{status: 502, html: true}, notify.OutcomeRetry, 0, true},
		{"MessageRejected", sesReply{status: 400, errType: "MessageRejected", message: "Email address is blacklisted."}, notify.OutcomePermanent, 0, false},
		{"MessageRejected sandbox", sesReply{status: 400, errType: "MessageRejected", message: "Email address is not verified. The following identities failed the check in region US-EAST-1: ann@example.com"}, notify.OutcomeConfig, 0, false},
		{"BadRequest", sesReply{status: 400, errType: "BadRequestException", message: "Illegal address"}, notify.OutcomePermanent, 0, false},
		{"LimitExceeded", sesReply{status: 400, errType: "LimitExceededException", message: "too many"}, notify.OutcomePermanent, 0, false},
		{"SendingPaused", sesReply{status: 400, errType: "SendingPausedException", message: "Sending is paused for this account."}, notify.OutcomeConfig, 0, false},
		{"AccountSuspended", sesReply{status: 400, errType: "AccountSuspendedException", message: "suspended"}, notify.OutcomeConfig, 0, false},
		{"MailFromDomainNotVerified", sesReply{status: 400, errType: "MailFromDomainNotVerifiedException", message: "not verified"}, notify.OutcomeConfig, 0, false},
		{"NotFound", sesReply{status: 404, errType: "NotFoundException", message: "Configuration set <x> does not exist."}, notify.OutcomeConfig, 0, false},
		{"AccessDenied", sesReply{status: 403, errType: "AccessDeniedException", message: "not authorized to perform ses:SendEmail"}, notify.OutcomeConfig, 0, false},
		{"UnrecognizedClient", sesReply{status: 403, errType: "UnrecognizedClientException", message: "The security token included in the request is invalid."}, notify.OutcomeConfig, 0, false},
		{"SignatureDoesNotMatch", sesReply{status: 403, errType: "SignatureDoesNotMatch", message: "signature"}, notify.OutcomeConfig, 0, false},
		{"403 HTML", sesReply{status: 403, html: true}, notify.OutcomeConfig, 0, false},
		{"unknown 400", sesReply{status: 400, errType: "SomethingNewException", message: "?"}, notify.OutcomePermanent, 0, false},
	}
	f := newFakeSES(t)
	ch := newChannel(t, f.srv.URL, email.Config{})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f.reply.Store(&tt.reply)
			before := f.calls.Load()
			_, err := ch.Send(t.Context(), delivery("ann@example.com"))
			require.Error(t, err)
			var classified *notify.OutcomeError
			require.ErrorAs(t, err, &classified, "the error is classified, not left to the default")
			oe := notify.Classify(err)
			assert.Equal(t, tt.outcome, oe.Outcome, "outcome of %v", err)
			assert.Equal(t, tt.retryAfter, oe.RetryAfter)
			assert.Equal(t, tt.maybeSent, oe.MaybeSent)
			assert.Equal(t, int64(1), f.calls.Load()-before, "one HTTP attempt per Send: the SDK does not retry on its own")
			var re *awshttp.ResponseError
			require.ErrorAs(t, err, &re, "the SDK's error stays reachable")
			assert.Equal(t, tt.reply.status, re.HTTPStatusCode())
			assert.NotContains(t, err.Error(), "secretTEST")
		})
	}
	t.Run("typed", func(t *testing.T) {
		f.reply.Store(&sesReply{status: 429, errType: "TooManyRequestsException", message: "slow down"})
		_, err := ch.Send(t.Context(), delivery("ann@example.com"))
		var tm *types.TooManyRequestsException
		assert.ErrorAs(t, err, &tm)
	})
}

// TestSendConcurrentFailuresNoRetryQuota: with the SDK's default retryer,
// 5xx answers to many concurrent sends are each retried up to 3 times and
// drain the shared retry token bucket, after which sends fail with "retry
// quota exceeded" (aws-sdk-go-v2 #1665). The channel makes exactly one
// attempt per send and every error is the provider's own.
func TestSendConcurrentFailuresNoRetryQuota(t *testing.T) {
	f := newFakeSES(t)
	f.reply.Store(&sesReply{status: 500, errType: "InternalServiceErrorException", message: "internal"})
	ch := newChannel(t, f.srv.URL, email.Config{})
	const n = 200
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { _, errs[i] = ch.Send(t.Context(), delivery(fmt.Sprintf("u%d@example.com", i))) })
	}
	wg.Wait()
	assert.Equal(t, int64(n), f.calls.Load(), "one HTTP attempt per send")
	for i, err := range errs {
		require.Error(t, err)
		assert.NotContains(t, err.Error(), "quota", "send %d", i)
		var ise *types.InternalServiceErrorException
		assert.ErrorAs(t, err, &ise, "send %d: %v", i, err)
		assert.Equal(t, notify.OutcomeRetry, notify.Classify(err).Outcome)
	}
}

func TestSendCancel(t *testing.T) {
	f := newFakeSES(t)
	f.reply.Store(&sesReply{hang: true})
	ch := newChannel(t, f.srv.URL, email.Config{})
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() {
		_, err := ch.Send(ctx, delivery("ann@example.com"))
		done <- err
	}()
	require.Eventually(t, func() bool { return f.calls.Load() == 1 }, 5*time.Second, 5*time.Millisecond)
	cancel()
	select {
	case err := <-done:
		require.Error(t, err)
		assert.ErrorIs(t, err, context.Canceled)
		oe := notify.Classify(err)
		assert.Equal(t, notify.OutcomeRetry, oe.Outcome)
		assert.True(t, oe.MaybeSent, "the request was written: SES may have accepted it")
	case <-time.After(5 * time.Second):
		t.Fatal("Send did not return after its context was canceled")
	}
}

func TestSendConnectionRefused(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	base := srv.URL
	srv.Close()
	ch := newChannel(t, base, email.Config{})
	_, err := ch.Send(t.Context(), delivery("ann@example.com"))
	require.Error(t, err)
	oe := notify.Classify(err)
	assert.Equal(t, notify.OutcomeRetry, oe.Outcome)
	assert.False(t, oe.MaybeSent, "a refused connection sent nothing")
}

func TestValidate(t *testing.T) {
	ch, err := email.New(newSES("http://127.0.0.1:1"), email.Config{From: "Acme <a@acme.example>"})
	require.NoError(t, err)
	noFrom, err := email.New(newSES("http://127.0.0.1:1"), email.Config{})
	require.NoError(t, err)
	opts := func(raw string) func(*notify.Delivery) {
		return func(d *notify.Delivery) { d.Options = json.RawMessage(raw) }
	}
	tests := []struct {
		name  string
		ch    *email.Channel
		mod   func(*notify.Delivery)
		field string
	}{
		{"valid", ch, nil, ""},
		{"display name", ch, func(d *notify.Delivery) { d.Address = "Zoë Ünicode <zoe@example.com>" }, ""},
		{"not an address", ch, func(d *notify.Delivery) { d.Address = "ann.example.com" }, notify.FieldAddress},
		{"two addresses", ch, func(d *notify.Delivery) { d.Address = "a@example.com, b@example.com" }, notify.FieldAddress},
		{"header injection", ch, func(d *notify.Delivery) { d.Address = "a@example.com\r\nBcc: x@evil.example" }, notify.FieldAddress},
		{"no domain", ch, func(d *notify.Delivery) { d.Address = "ann@" }, notify.FieldAddress},
		{"no subject", ch, func(d *notify.Delivery) { d.Message.Subject = " " }, "Content"},
		{"subject line break", ch, func(d *notify.Delivery) { d.Message.Subject = "a\r\nBcc: x@y.z" }, "Content"},
		{"no body", ch, func(d *notify.Delivery) { d.Message.Text, d.Message.HTML = "", "" }, "Content"},
		{"no body from template", ch, func(d *notify.Delivery) { d.Template = "t"; d.Message.Text, d.Message.HTML = "", "" }, "Data"},
		{"over 40 MB", ch, func(d *notify.Delivery) { d.Message.HTML = strings.Repeat("x", 30<<20) }, "Content"},
		{"just under 40 MB encoded", ch, func(d *notify.Delivery) { d.Message.HTML = strings.Repeat("x", 29<<20) }, ""},
		{"no sender", noFrom, nil, "Options.email.from"},
		{"sender in options", noFrom, opts(`{"from":"Shop <shop@acme.example>"}`), ""},
		{"bad sender in options", ch, opts(`{"from":"shop at acme"}`), "Options.email.from"},
		{"bad reply-to", ch, opts(`{"reply_to":["nope"]}`), "Options.email.reply_to"},
		{"unknown option", ch, opts(`{"replyto":["a@b.c"]}`), "Options.email"},
		{"reserved header", ch, opts(`{"headers":{"Bcc":"x@evil.example"}}`), "Options.email.headers"},
		{"header value line break", ch, opts(`{"headers":{"X-A":"a\r\nBcc: x@evil.example"}}`), "Options.email.headers"},
		{"header non-ASCII", ch, opts(`{"headers":{"X-A":"café"}}`), "Options.email.headers"},
		{"header name colon", ch, opts(`{"headers":{"X:A":"a"}}`), "Options.email.headers"},
		{"unsubscribe http", ch, opts(`{"list_unsubscribe":["http://acme.example/u"]}`), "Options.email.list_unsubscribe"},
		{"one click without https", ch, opts(`{"list_unsubscribe":["mailto:u@acme.example"],"one_click":true}`), "Options.email.list_unsubscribe"},
		{"one click alone", ch, opts(`{"one_click":true}`), "Options.email.list_unsubscribe"},
		{"unsubscribe ok", ch, opts(`{"list_unsubscribe":["mailto:u@acme.example","https://acme.example/u"],"one_click":true}`), ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := delivery("ann@example.com")
			if tt.mod != nil {
				tt.mod(d)
			}
			err := tt.ch.Validate(d)
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

func TestNew(t *testing.T) {
	_, err := email.New(nil, email.Config{})
	assert.ErrorContains(t, err, "sesv2.Client is nil")
	_, err = email.New(newSES("http://127.0.0.1:1"), email.Config{From: "nope"})
	assert.ErrorContains(t, err, "Config.From")
	_, err = email.New(newSES("http://127.0.0.1:1"), email.Config{Headers: map[string]string{"To": "x"}})
	assert.ErrorContains(t, err, "Config.Headers")
}

func TestSendNoCredentials(t *testing.T) {
	f := newFakeSES(t)
	api := sesv2.New(sesv2.Options{
		Region: "us-east-1", BaseEndpoint: aws.String(f.srv.URL),
		Credentials: aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
			return aws.Credentials{}, fmt.Errorf("no EC2 IMDS role found")
		}),
	})
	ch, err := email.New(api, email.Config{From: "a@acme.example"})
	require.NoError(t, err)
	_, err = ch.Send(t.Context(), delivery("ann@example.com"))
	require.Error(t, err)
	assert.Equal(t, notify.OutcomeConfig, notify.Classify(err).Outcome, "%v", err)
	assert.Zero(t, f.calls.Load(), "nothing was sent")
}
