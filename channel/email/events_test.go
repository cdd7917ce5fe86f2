package email_test

import (
	"bytes"
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gonotify/notify"
	"github.com/gonotify/notify/channel/email"
	"github.com/gonotify/notify/notifytest"
	qmem "github.com/gonotify/notify/queue/memory"
	smem "github.com/gonotify/notify/store/memory"
)

const testTopic = "arn:aws:sns:us-east-1:123456789012:ses-events"

// fakeSNS is SNS's side: a signing key, its certificate served over TLS,
// and a SubscribeURL that counts confirmations.
type fakeSNS struct {
	key       *rsa.PrivateKey
	srv       *httptest.Server
	confirmed atomic.Int32

	mu      sync.Mutex
	fetches map[string]int // GETs of .pem paths, by path
}

// fetched returns how many times path was fetched.
func (f *fakeSNS) fetched(path string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.fetches[path]
}

// totalFetched returns how many certificate fetches were made.
func (f *fakeSNS) totalFetched() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, c := range f.fetches {
		n += c
	}
	return n
}

func newFakeSNS(t *testing.T) *fakeSNS {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	require.NoError(t, err)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "sns.amazonaws.com"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	require.NoError(t, err)
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	f := &fakeSNS{key: key, fetches: map[string]int{}}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /SimpleNotificationService-test.pem", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write(certPEM) })
	mux.HandleFunc("GET /{name}", func(w http.ResponseWriter, _ *http.Request) { // any other .pem: SNS failing
		http.Error(w, "unavailable", http.StatusServiceUnavailable)
	})
	mux.HandleFunc("GET /confirm", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("Token") == "tok" {
			f.confirmed.Add(1)
		}
	})
	f.srv = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, ".pem") {
			f.mu.Lock()
			f.fetches[r.URL.Path]++
			f.mu.Unlock()
		}
		mux.ServeHTTP(w, r)
	}))
	t.Cleanup(f.srv.Close)
	return f
}

// message builds a signed SNS message, as SNS documents the signature:
// "Name\nvalue\n" for each signed field, in name order, then RSA over
// SHA1 (version 1) or SHA256 (version 2).
func (f *fakeSNS) message(t *testing.T, typ, topic, body string, version string) map[string]string {
	t.Helper()
	return f.messageAt(t, typ, topic, body, version, time.Now(), "/SimpleNotificationService-test.pem")
}

// messageAt builds a signed SNS message published at ts whose certificate
// is at certPath on the fake SNS.
func (f *fakeSNS) messageAt(t *testing.T, typ, topic, body string, version string, ts time.Time, certPath string) map[string]string {
	t.Helper()
	m := map[string]string{"Type": typ, "MessageId": "m-1", "TopicArn": topic, "Message": body,
		"Timestamp": ts.UTC().Format("2006-01-02T15:04:05.000Z"), "SignatureVersion": version,
		"SigningCertURL": f.srv.URL + certPath}
	signed := []string{"Message", "MessageId", "Timestamp", "TopicArn", "Type"}
	if typ != "Notification" {
		m["Token"], m["SubscribeURL"] = "tok", f.srv.URL+"/confirm?Action=ConfirmSubscription&Token=tok"
		signed = []string{"Message", "MessageId", "SubscribeURL", "Timestamp", "Token", "TopicArn", "Type"}
	}
	var text bytes.Buffer
	for _, k := range signed {
		text.WriteString(k + "\n" + m[k] + "\n")
	}
	var sig []byte
	var err error
	if version == "1" {
		d := sha1.Sum(text.Bytes())
		sig, err = rsa.SignPKCS1v15(rand.Reader, f.key, crypto.SHA1, d[:])
	} else {
		d := sha256.Sum256(text.Bytes())
		sig, err = rsa.SignPKCS1v15(rand.Reader, f.key, crypto.SHA256, d[:])
	}
	require.NoError(t, err)
	m["Signature"] = base64.StdEncoding.EncodeToString(sig)
	return m
}

func (f *fakeSNS) handler(t *testing.T, rec notify.FeedbackRecorder) *email.EventHandler {
	t.Helper()
	return f.handlerWith(t, rec, nil)
}

// handlerWith returns an EventHandler trusting f's certificates, with mod
// applied to its config.
func (f *fakeSNS) handlerWith(t *testing.T, rec notify.FeedbackRecorder, mod func(*email.EventHandlerConfig)) *email.EventHandler {
	t.Helper()
	host := f.srv.Listener.Addr().String()
	cfg := email.EventHandlerConfig{Recorder: rec, TopicARNs: []string{testTopic},
		HTTPClient: f.srv.Client(), TrustCertURL: func(u *url.URL) bool { return u.Scheme == "https" && u.Host == host },
		Logger: slog.New(slog.DiscardHandler)}
	if mod != nil {
		mod(&cfg)
	}
	h, err := email.NewEventHandler(cfg)
	require.NoError(t, err)
	return h
}

// bubbleClient is a client for f usable inside a synctest bubble: without
// keep-alives, no connection goroutine outlives its request, so the
// bubble's fake clock can advance.
func (f *fakeSNS) bubbleClient() *http.Client {
	tr := f.srv.Client().Transport.(*http.Transport).Clone()
	tr.DisableKeepAlives = true
	return &http.Client{Transport: tr, Timeout: 10 * time.Second}
}

func post(t *testing.T, h http.Handler, m map[string]string) int {
	t.Helper()
	b, err := json.Marshal(m)
	require.NoError(t, err)
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequestWithContext(t.Context(), http.MethodPost, "/ses/events", bytes.NewReader(b)))
	return w.Code
}

func sesEvent(eventType, deliveryID, detail string) string {
	e := map[string]any{"eventType": eventType, "mail": map[string]any{"messageId": "0100-ses",
		"tags": map[string][]string{email.TagDeliveryID: {deliveryID}, email.TagCategory: {"news"}}}}
	ts := "2026-11-27T10:00:00.000Z"
	switch eventType {
	case "Bounce":
		e["bounce"] = map[string]any{"bounceType": detail, "bounceSubType": "General", "timestamp": ts,
			"bouncedRecipients": []map[string]string{{"emailAddress": "ana@example.com", "diagnosticCode": "smtp; 550 5.1.1 user unknown"}}}
	case "Complaint":
		e["complaint"] = map[string]any{"complaintFeedbackType": "abuse", "timestamp": ts}
	case "Delivery":
		e["delivery"] = map[string]any{"timestamp": ts}
	case "Click":
		e["click"] = map[string]any{"timestamp": ts, "link": detail}
	case "Open":
		e["open"] = map[string]any{"timestamp": ts}
	case "Reject":
		e["reject"] = map[string]any{"reason": "Bad content"}
	}
	b, _ := json.Marshal(e)
	return string(b)
}

func TestEventHandlerOutcomes(t *testing.T) {
	f := newFakeSNS(t)
	for _, tc := range []struct {
		event, detail string
		version       string
		recorded      bool
		outcome       notify.Outcome // -1: no error
		engagement    notify.Status
	}{
		{event: "Delivery", version: "1", recorded: true, outcome: -1},
		{event: "Delivery", version: "2", recorded: true, outcome: -1},
		{event: "Bounce", detail: "Permanent", version: "2", recorded: true, outcome: notify.OutcomeInvalidRecipient},
		{event: "Bounce", detail: "Transient", version: "2", recorded: true, outcome: notify.OutcomePermanent},
		{event: "Complaint", version: "1", recorded: true, outcome: notify.OutcomeOptedOut, engagement: notify.StatusComplained},
		{event: "Reject", version: "1", recorded: true, outcome: notify.OutcomePermanent},
		{event: "Open", version: "1", recorded: true, outcome: -1, engagement: notify.StatusOpened},
		{event: "Click", detail: "https://example.com/a", version: "1", recorded: true, outcome: -1, engagement: notify.StatusClicked},
		{event: "Send", version: "1"},
		{event: "DeliveryDelay", version: "1"},
	} {
		t.Run(tc.event+"/"+tc.detail+"/v"+tc.version, func(t *testing.T) {
			rec := &notifytest.FeedbackRecorder{}
			h := f.handler(t, rec)
			require.Equal(t, http.StatusOK, post(t, h, f.message(t, "Notification", testTopic, sesEvent(tc.event, "d1", tc.detail), tc.version)))
			if !tc.recorded {
				assert.Empty(t, rec.Reports())
				return
			}
			require.Len(t, rec.Reports(), 1)
			fb := rec.Reports()[0]
			assert.Equal(t, "d1", fb.DeliveryID)
			assert.Equal(t, "0100-ses", fb.ProviderID)
			assert.Equal(t, tc.engagement, fb.Engagement)
			if tc.event == "Click" {
				assert.Equal(t, tc.detail, fb.Detail)
			}
			if tc.outcome < 0 {
				assert.NoError(t, fb.Err)
				return
			}
			require.Error(t, fb.Err)
			assert.Equal(t, tc.outcome, notify.Classify(fb.Err).Outcome)
		})
	}
}

func TestEventHandlerRefuses(t *testing.T) {
	f := newFakeSNS(t)
	rec := &notifytest.FeedbackRecorder{}
	h := f.handler(t, rec)
	good := f.message(t, "Notification", testTopic, sesEvent("Delivery", "d1", ""), "2")

	tampered := f.message(t, "Notification", testTopic, sesEvent("Delivery", "d1", ""), "2")
	tampered["Message"] = sesEvent("Bounce", "d1", "Permanent")
	assert.Equal(t, http.StatusForbidden, post(t, h, tampered), "a changed message")

	other := f.message(t, "Notification", "arn:aws:sns:us-east-1:999999999999:theirs", sesEvent("Delivery", "d1", ""), "2")
	assert.Equal(t, http.StatusForbidden, post(t, h, other), "another account's topic")

	untrusted := f.message(t, "Notification", testTopic, sesEvent("Delivery", "d1", ""), "2")
	untrusted["SigningCertURL"] = "https://evil.example.com/SimpleNotificationService-test.pem"
	assert.Equal(t, http.StatusForbidden, post(t, h, untrusted), "a certificate not on SNS")
	withQuery := f.message(t, "Notification", testTopic, sesEvent("Delivery", "d1", ""), "2")
	withQuery["SigningCertURL"] += "?n=1"
	assert.Equal(t, http.StatusForbidden, post(t, h, withQuery), "a certificate URL with a query")

	noTag := f.message(t, "Notification", testTopic, `{"eventType":"Delivery","mail":{"messageId":"x","tags":{}}}`, "2")
	assert.Equal(t, http.StatusOK, post(t, h, noTag), "mail notify did not send: dropped")
	assert.Empty(t, rec.Reports())

	assert.Equal(t, http.StatusOK, post(t, h, good))
	assert.Len(t, rec.Reports(), 1)

	_, err := email.NewEventHandler(email.EventHandlerConfig{Recorder: rec})
	assert.ErrorContains(t, err, "TopicARNs")
}

// TestEventHandlerPreamble: only POSTs are read, and only up to 300 KiB
// (SNS messages are at most 256 KiB); the rest is refused before the
// message is looked at.
func TestEventHandlerPreamble(t *testing.T) {
	f := newFakeSNS(t)
	rec := &notifytest.FeedbackRecorder{}
	h := f.handler(t, rec)
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequestWithContext(t.Context(), http.MethodGet, "/ses/events", nil))
	assert.Equal(t, http.StatusMethodNotAllowed, w.Code)
	assert.Equal(t, http.MethodPost, w.Header().Get("Allow"))

	m := f.message(t, "Notification", testTopic, sesEvent("Delivery", "d1", ""), "2")
	m["Pad"] = "" // not a field SNS signs
	b, err := json.Marshal(m)
	require.NoError(t, err)
	m["Pad"] = strings.Repeat("x", 300<<10-len(b))
	assert.Equal(t, http.StatusOK, post(t, h, m), "at the limit")
	require.Len(t, rec.Reports(), 1)
	m["Pad"] += "x"
	assert.Equal(t, http.StatusBadRequest, post(t, h, m), "over the limit")
	assert.Len(t, rec.Reports(), 1)
}

func TestEventHandlerConfirmsSubscription(t *testing.T) {
	f := newFakeSNS(t)
	h := f.handler(t, &notifytest.FeedbackRecorder{})
	assert.Equal(t, http.StatusOK, post(t, h, f.message(t, "SubscriptionConfirmation", testTopic, "You have chosen to subscribe", "1")))
	assert.EqualValues(t, 1, f.confirmed.Load())
	assert.Equal(t, http.StatusForbidden, post(t, h, f.message(t, "SubscriptionConfirmation", "arn:aws:sns:us-east-1:999999999999:theirs", "x", "1")))
	assert.EqualValues(t, 1, f.confirmed.Load(), "another topic is not confirmed")
}

func TestEventHandlerRecorderErrors(t *testing.T) {
	f := newFakeSNS(t)
	rec := &notifytest.FeedbackRecorder{}
	rec.Fail(notify.ErrNotFound)
	h := f.handler(t, rec)
	m := f.message(t, "Notification", testTopic, sesEvent("Delivery", "d1", ""), "2")
	assert.Equal(t, http.StatusOK, post(t, h, m), "an unknown delivery is dropped")
	rec.Fail(errors.New("database down"))
	assert.Equal(t, http.StatusInternalServerError, post(t, h, m), "SNS retries")
}

// End to end through a Dispatcher: a permanent bounce marks the delivery
// undelivered and removes the address; a complaint stores an opt-out.
func TestEventHandlerThroughDispatcher(t *testing.T) {
	f := newFakeSNS(t)
	store := smem.New(smem.Config{})
	queue := qmem.New(qmem.Config{})
	t.Cleanup(func() { _ = queue.Close() })
	ch := notifytest.NewChannel(notify.ChannelEmail)
	d, err := notify.New(notify.Config{Queue: queue, Store: store, Channels: []notify.Channel{ch}, Logger: slog.New(slog.DiscardHandler)})
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() { _ = d.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()
	h := f.handler(t, d)

	send := func(user string) notify.Receipt {
		t.Helper()
		r, err := d.Send(t.Context(), notify.Notification{UserID: user, Category: "news", Content: &notify.Message{Title: "Hi", Body: "there"}})
		require.NoError(t, err)
		require.Len(t, r.Deliveries, 1)
		require.Eventually(t, func() bool {
			st, err := d.Status(t.Context(), r.NotificationID)
			return err == nil && st[0].Status == notify.StatusSent
		}, 10*time.Second, 5*time.Millisecond)
		return r
	}
	require.NoError(t, store.PutContact(t.Context(), notify.Contact{UserID: "ana", Email: "ana@example.com"}))
	require.NoError(t, store.PutContact(t.Context(), notify.Contact{UserID: "bo", Email: "bo@example.com"}))

	r := send("ana")
	require.Equal(t, http.StatusOK, post(t, h, f.message(t, "Notification", testTopic, sesEvent("Bounce", r.Deliveries[0].ID, "Permanent"), "2")))
	st, err := d.Status(t.Context(), r.NotificationID)
	require.NoError(t, err)
	assert.Equal(t, notify.StatusUndelivered, st[0].Status)
	assert.Contains(t, st[0].Reason, "550 5.1.1")
	c, err := store.Contact(t.Context(), "ana")
	require.NoError(t, err)
	assert.Empty(t, c.Email, "a permanent bounce removes the address")

	r = send("bo")
	require.Equal(t, http.StatusOK, post(t, h, f.message(t, "Notification", testTopic, sesEvent("Complaint", r.Deliveries[0].ID, ""), "1")))
	consent, err := store.Consent(t.Context(), "bo", "news", notify.ChannelEmail)
	require.NoError(t, err)
	assert.Equal(t, notify.ConsentOptedOut, consent, "a complaint opts bo out of the category's email")
}

// A certificate URL that fails is fetched once, however many messages name
// it at once or soon after; a minute later it is tried again. Messages that
// cannot be verified for now get 503, so that SNS retries them.
func TestEventHandlerCachesCertFailures(t *testing.T) {
	f := newFakeSNS(t) // outside the bubble: its server blocks on the network
	synctest.Test(t, func(t *testing.T) {
		rec := &notifytest.FeedbackRecorder{}
		h := f.handlerWith(t, rec, func(c *email.EventHandlerConfig) { c.HTTPClient = f.bubbleClient() })
		msg := func() map[string]string {
			return f.messageAt(t, "Notification", testTopic, sesEvent("Delivery", "d1", ""), "2", time.Now(), "/failing.pem")
		}
		codes := make([]int, 50)
		var wg sync.WaitGroup
		for i := range codes {
			m := msg()
			wg.Go(func() { codes[i] = post(t, h, m) })
		}
		wg.Wait()
		for i, c := range codes {
			assert.Equal(t, http.StatusServiceUnavailable, c, "message %d", i)
		}
		assert.Equal(t, 1, f.fetched("/failing.pem"), "50 messages at once: one fetch")

		time.Sleep(59 * time.Second)
		assert.Equal(t, http.StatusServiceUnavailable, post(t, h, msg()))
		assert.Equal(t, 1, f.fetched("/failing.pem"), "within a minute of the failure: not fetched again")

		time.Sleep(2 * time.Second)
		assert.Equal(t, http.StatusServiceUnavailable, post(t, h, msg()))
		assert.Equal(t, 2, f.fetched("/failing.pem"), "a minute later: tried again")

		assert.Equal(t, http.StatusOK, post(t, h, f.messageAt(t, "Notification", testTopic, sesEvent("Delivery", "d1", ""), "2",
			time.Now(), "/SimpleNotificationService-test.pem")))
		assert.Len(t, rec.Reports(), 1)
	})
}

// At most 5 certificate fetches a minute are made, across all URLs: a
// message naming a sixth new URL gets 503 and nothing is fetched; a cached
// certificate is not limited; the budget refills at one fetch per 12s.
func TestEventHandlerLimitsCertFetches(t *testing.T) {
	f := newFakeSNS(t)
	synctest.Test(t, func(t *testing.T) {
		rec := &notifytest.FeedbackRecorder{}
		h := f.handlerWith(t, rec, func(c *email.EventHandlerConfig) { c.HTTPClient = f.bubbleClient() })
		at := func(path string) map[string]string {
			return f.messageAt(t, "Notification", testTopic, sesEvent("Delivery", "d1", ""), "2", time.Now(), path)
		}
		good := "/SimpleNotificationService-test.pem"
		require.Equal(t, http.StatusOK, post(t, h, at(good)), "1st fetch")
		for i := range 20 { // distinct URLs, so the failure cache does not help
			assert.Equal(t, http.StatusServiceUnavailable, post(t, h, at(fmt.Sprintf("/attack-%d.pem", i))))
		}
		assert.Equal(t, 5, f.totalFetched(), "a burst of 5 fetches, then none")
		assert.Equal(t, 1, f.fetched("/attack-3.pem"))
		assert.Equal(t, 0, f.fetched("/attack-4.pem"), "over the limit: not fetched")

		assert.Equal(t, http.StatusOK, post(t, h, at(good)), "a cached certificate needs no fetch")
		assert.Equal(t, 5, f.totalFetched())

		time.Sleep(12 * time.Second)
		assert.Equal(t, http.StatusServiceUnavailable, post(t, h, at("/attack-4.pem")))
		assert.Equal(t, http.StatusServiceUnavailable, post(t, h, at("/attack-5.pem")))
		assert.Equal(t, 6, f.totalFetched(), "12s later: one more fetch")
		assert.Equal(t, 1, f.fetched("/attack-4.pem"))
		assert.Len(t, rec.Reports(), 2)
	})
}

// A message is accepted only while its Timestamp is within MaxMessageAge
// (default 1h) and at most 5 minutes ahead: an old message is a replay.
func TestEventHandlerMessageAge(t *testing.T) {
	f := newFakeSNS(t)
	rec := &notifytest.FeedbackRecorder{}
	at := func(ts time.Time) map[string]string {
		return f.messageAt(t, "Notification", testTopic, sesEvent("Delivery", "d1", ""), "2", ts, "/SimpleNotificationService-test.pem")
	}
	now := time.Now()
	h := f.handler(t, rec)
	assert.Equal(t, http.StatusForbidden, post(t, h, at(now.Add(-61*time.Minute))), "older than an hour")
	assert.Equal(t, http.StatusForbidden, post(t, h, at(now.Add(6*time.Minute))), "6 minutes ahead")
	assert.Empty(t, rec.Reports())
	assert.Equal(t, http.StatusOK, post(t, h, at(now.Add(-59*time.Minute))), "59 minutes old")
	assert.Equal(t, http.StatusOK, post(t, h, at(now.Add(4*time.Minute))), "4 minutes ahead: clock skew")
	assert.Equal(t, http.StatusOK, post(t, h, at(now)))
	assert.Len(t, rec.Reports(), 3)

	bad := at(now)
	bad["Timestamp"] = "yesterday"
	assert.Equal(t, http.StatusForbidden, post(t, h, bad), "no RFC 3339 Timestamp")

	short := f.handlerWith(t, rec, func(c *email.EventHandlerConfig) { c.MaxMessageAge = 10 * time.Minute })
	assert.Equal(t, http.StatusForbidden, post(t, short, at(now.Add(-11*time.Minute))))
	assert.Equal(t, http.StatusOK, post(t, short, at(now.Add(-9*time.Minute))))

	off := f.handlerWith(t, rec, func(c *email.EventHandlerConfig) { c.MaxMessageAge = -1 })
	assert.Equal(t, http.StatusOK, post(t, off, at(now.Add(-48*time.Hour))), "check turned off")
	assert.Len(t, rec.Reports(), 5)
}
