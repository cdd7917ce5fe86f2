package email

import (
	"context"
	"crypto"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gonotify/notify"
	"github.com/gonotify/notify/channel/internal/webhook"
)

// EventHandlerConfig configures an EventHandler.
type EventHandlerConfig struct {
	// Recorder receives each report. Required.
	Recorder notify.FeedbackRecorder
	// TopicARNs are the SNS topics whose messages are accepted (the
	// configuration set's event destination). Required: SNS signs the
	// messages of every AWS account's topics alike, so the topic is what
	// makes a message yours.
	TopicARNs []string
	// HTTPClient fetches SNS signing certificates and confirms
	// subscriptions. Default: a client with a 10s timeout.
	HTTPClient *http.Client
	// TrustCertURL reports whether a SigningCertURL may be fetched. Default:
	// https on sns.<region>.amazonaws.com (or .amazonaws.com.cn). Tests
	// point it at a local server.
	TrustCertURL func(*url.URL) bool
	// MaxMessageAge is how old a message's Timestamp (when SNS published
	// it; its retries keep it) may be: an older message is refused with 403
	// and logged, so that a captured message cannot be replayed later. A
	// Timestamp more than 5 minutes in the future is refused too. Default 1h
	// (DefaultMaxMessageAge): SNS retries an HTTP(S) delivery for at most an
	// hour. Negative turns the check off (for a host whose clock cannot be
	// trusted).
	MaxMessageAge time.Duration
	// Logger receives dropped and failed messages. Default slog.Default().
	Logger *slog.Logger
}

// DefaultMaxMessageAge is EventHandlerConfig.MaxMessageAge's default.
const DefaultMaxMessageAge = time.Hour

// Signing certificate fetch limits (see EventHandler).
const (
	maxFutureSkew     = 5 * time.Minute  // a Timestamp later than now by more is refused
	certFailureTTL    = time.Minute      // a failed fetch is not retried for this long
	certFetchBurst    = 5                // fetches allowed at once, across all URLs
	certFetchInterval = 12 * time.Second // then one more per interval: 5 a minute
	certFetchTimeout  = 10 * time.Second // one fetch, whoever waits for it
)

// EventHandler receives Amazon SES events (a configuration set's event
// destination, published to SNS) on an SNS HTTP(S) subscription, and turns
// each into notify.Feedback for the delivery named by the message's
// TagDeliveryID tag, which Send sets:
//
//   - Delivery: delivered;
//   - Bounce, Permanent: an invalid recipient, whose address is removed;
//   - Bounce, Transient or Undetermined; Reject; Rendering Failure:
//     undelivered;
//   - Complaint: a "complained" tracking event, and an opt-out from email
//     for the delivery's category;
//   - Open, Click: tracking events (the link as the reason);
//   - Send, DeliveryDelay and others: acknowledged and ignored.
//
// Every message's signature is verified (SignatureVersion 1 and 2) with a
// certificate fetched from SNS and cached; a message that does not verify,
// comes from a topic not in TopicARNs, or whose Timestamp is older than
// MaxMessageAge (or more than 5 minutes ahead) gets 403. Certificate
// fetches are bounded: concurrent messages naming the same certificate
// share one fetch, a failed fetch is not repeated for a minute, and at
// most 5 fetches a minute are made across all URLs (a burst of 5, then one
// every 12s). A message whose certificate cannot be had now (the fetch
// failed, failed within the last minute, or is over that limit) gets 503,
// so that SNS retries it later. A SubscriptionConfirmation from an accepted
// topic is confirmed by fetching its SubscribeURL. A report for a delivery
// the log does not know gets 200 and is dropped; a Recorder failure gets
// 500, and SNS retries.
type EventHandler struct {
	cfg    EventHandlerConfig
	http   *http.Client
	trust  func(*url.URL) bool
	log    *slog.Logger
	maxAge time.Duration // <= 0: no Timestamp check

	mu       sync.Mutex
	certs    map[string]*x509.Certificate // by SigningCertURL
	failed   map[string]certFailure       // by SigningCertURL
	inflight map[string]*certFetch        // by SigningCertURL
	tokens   float64                      // certificate fetches allowed now
	refilled time.Time                    // when tokens was last brought up to date
}

// certFailure is a failed certificate fetch, remembered until until.
type certFailure struct {
	until time.Time
	err   error
}

// certFetch is a certificate fetch in progress; done is closed when cert
// or err is set.
type certFetch struct {
	done chan struct{}
	cert *x509.Certificate
	err  error
}

// errCertUnavailable marks a signing certificate that cannot be had now:
// the message may be genuine, so it is answered 503 and SNS retries.
var errCertUnavailable = errors.New("SNS signing certificate unavailable")

// NewEventHandler returns an EventHandler. Mount it at the URL of the SNS
// subscription.
func NewEventHandler(cfg EventHandlerConfig) (*EventHandler, error) {
	if cfg.Recorder == nil {
		return nil, errors.New("email: EventHandlerConfig.Recorder is required (a *notify.Dispatcher)")
	}
	if len(cfg.TopicARNs) == 0 {
		return nil, errors.New("email: EventHandlerConfig.TopicARNs is required: the SNS topics of your configuration set's event destination")
	}
	h := &EventHandler{cfg: cfg, http: cfg.HTTPClient, trust: cfg.TrustCertURL, log: cfg.Logger, maxAge: cfg.MaxMessageAge,
		certs: map[string]*x509.Certificate{}, failed: map[string]certFailure{}, inflight: map[string]*certFetch{},
		tokens: certFetchBurst, refilled: time.Now()}
	if h.maxAge == 0 {
		h.maxAge = DefaultMaxMessageAge
	}
	if h.http == nil {
		h.http = &http.Client{Timeout: 10 * time.Second}
	}
	if h.trust == nil {
		h.trust = trustedSNSCertURL
	}
	if h.log == nil {
		h.log = slog.Default()
	}
	return h, nil
}

var snsHost = regexp.MustCompile(`^sns\.[a-z0-9-]+\.amazonaws\.com(\.cn)?$`)

func trustedSNSCertURL(u *url.URL) bool {
	return u.Scheme == "https" && u.Port() == "" && snsHost.MatchString(u.Hostname()) && strings.HasSuffix(u.Path, ".pem")
}

// snsMessage is an SNS HTTP(S) delivery.
type snsMessage struct {
	Type             string
	MessageID        string `json:"MessageId"`
	Token            string
	TopicARN         string `json:"TopicArn"`
	Subject          *string
	Message          string
	SubscribeURL     string
	Timestamp        string
	SignatureVersion string
	Signature        string
	SigningCertURL   string
}

// maxSNSBytes bounds a message: SNS messages are at most 256 KiB.
const maxSNSBytes = 300 << 10

// ServeHTTP handles one SNS message.
func (h *EventHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, ok := webhook.ReadPost(w, r, maxSNSBytes, "SNS messages")
	if !ok {
		return
	}
	var m snsMessage
	if err := json.Unmarshal(body, &m); err != nil {
		http.Error(w, "not an SNS message", http.StatusBadRequest)
		return
	}
	if !slices.Contains(h.cfg.TopicARNs, m.TopicARN) {
		h.log.WarnContext(r.Context(), "email: SNS message from a topic not in EventHandlerConfig.TopicARNs; refused", slog.String("topic", m.TopicARN))
		http.Error(w, "unknown topic", http.StatusForbidden)
		return
	}
	if msg, ok := h.fresh(r.Context(), &m); !ok {
		http.Error(w, msg, http.StatusForbidden)
		return
	}
	if err := h.verify(r.Context(), &m); err != nil {
		if errors.Is(err, errCertUnavailable) {
			h.log.WarnContext(r.Context(), "email: SNS message not verified for now; answered 503 so that SNS retries",
				slog.String("topic", m.TopicARN), slog.String("message_id", m.MessageID), slog.Any("error", err))
			w.Header().Set("Retry-After", strconv.Itoa(int(certFailureTTL/time.Second)))
			http.Error(w, "signing certificate unavailable; retry later", http.StatusServiceUnavailable)
			return
		}
		h.log.WarnContext(r.Context(), "email: SNS message signature does not verify; refused", slog.String("topic", m.TopicARN), slog.Any("error", err))
		http.Error(w, "bad signature", http.StatusForbidden)
		return
	}
	switch m.Type {
	case "SubscriptionConfirmation":
		if err := h.confirm(r.Context(), m.SubscribeURL); err != nil {
			h.log.ErrorContext(r.Context(), "email: confirm SNS subscription", slog.String("topic", m.TopicARN), slog.Any("error", err))
			http.Error(w, "could not confirm", http.StatusBadGateway)
			return
		}
		h.log.InfoContext(r.Context(), "email: SNS subscription confirmed", slog.String("topic", m.TopicARN))
	case "Notification":
		fb, ok, err := feedbackOfSES(m.Message)
		if err != nil {
			h.log.WarnContext(r.Context(), "email: SNS notification is not an SES event; dropped", slog.String("message_id", m.MessageID), slog.Any("error", err))
			break
		}
		if !ok {
			break
		}
		switch err := h.cfg.Recorder.Feedback(r.Context(), fb); {
		case err == nil:
		case errors.Is(err, notify.ErrNotFound):
			h.log.WarnContext(r.Context(), "email: SES event for a delivery the log does not have; dropped", slog.String("delivery", fb.DeliveryID))
		default:
			h.log.ErrorContext(r.Context(), "email: record SES event", slog.String("delivery", fb.DeliveryID), slog.Any("error", err))
			http.Error(w, "could not record the event", http.StatusInternalServerError)
			return
		}
	}
	w.WriteHeader(http.StatusOK)
}

// fresh reports whether m's Timestamp is within MaxMessageAge of now and
// not too far ahead; if not, it logs why and returns the answer's text.
func (h *EventHandler) fresh(ctx context.Context, m *snsMessage) (string, bool) {
	if h.maxAge <= 0 {
		return "", true
	}
	ts, err := time.Parse(time.RFC3339Nano, m.Timestamp)
	if err != nil {
		h.log.WarnContext(ctx, "email: SNS message without an RFC 3339 Timestamp; refused",
			slog.String("topic", m.TopicARN), slog.String("message_id", m.MessageID), slog.String("timestamp", m.Timestamp))
		return "Timestamp is not RFC 3339", false
	}
	now := time.Now()
	switch age := now.Sub(ts); {
	case age > h.maxAge:
		h.log.WarnContext(ctx, "email: SNS message older than EventHandlerConfig.MaxMessageAge; refused (a replay, or a delivery SNS retried for longer)",
			slog.String("topic", m.TopicARN), slog.String("message_id", m.MessageID), slog.String("timestamp", m.Timestamp),
			slog.Duration("age", age), slog.Duration("max_age", h.maxAge))
		return "stale message: Timestamp is older than the handler's MaxMessageAge", false
	case -age > maxFutureSkew:
		h.log.WarnContext(ctx, "email: SNS message Timestamp is in the future; refused (check this host's clock)",
			slog.String("topic", m.TopicARN), slog.String("message_id", m.MessageID), slog.String("timestamp", m.Timestamp),
			slog.Duration("ahead", -age))
		return "Timestamp is in the future", false
	}
	return "", true
}

// verify checks m's signature against its signing certificate.
func (h *EventHandler) verify(ctx context.Context, m *snsMessage) error {
	var hash crypto.Hash
	switch m.SignatureVersion {
	case "1":
		hash = crypto.SHA1
	case "2":
		hash = crypto.SHA256
	default:
		return fmt.Errorf("unknown SignatureVersion %q", m.SignatureVersion)
	}
	sig, err := base64.StdEncoding.DecodeString(m.Signature)
	if err != nil {
		return fmt.Errorf("signature: %w", err)
	}
	cert, err := h.cert(ctx, m.SigningCertURL)
	if err != nil {
		return err
	}
	pub, ok := cert.PublicKey.(*rsa.PublicKey)
	if !ok {
		return errors.New("signing certificate has no RSA key")
	}
	text := stringToSign(m)
	var digest []byte
	if hash == crypto.SHA1 {
		d := sha1.Sum([]byte(text))
		digest = d[:]
	} else {
		d := sha256.Sum256([]byte(text))
		digest = d[:]
	}
	return rsa.VerifyPKCS1v15(pub, hash, digest, sig)
}

// stringToSign is what SNS signs: name and value lines of the message's
// fields, in the order SNS documents for its type.
func stringToSign(m *snsMessage) string {
	var b strings.Builder
	add := func(k, v string) { b.WriteString(k + "\n" + v + "\n") }
	add("Message", m.Message)
	add("MessageId", m.MessageID)
	if m.Type == "Notification" {
		if m.Subject != nil {
			add("Subject", *m.Subject)
		}
	} else {
		add("SubscribeURL", m.SubscribeURL)
	}
	add("Timestamp", m.Timestamp)
	if m.Type != "Notification" {
		add("Token", m.Token)
	}
	add("TopicArn", m.TopicARN)
	add("Type", m.Type)
	return b.String()
}

// maxCerts bounds the certificate cache and the failure cache; SNS uses a
// handful of certificates per region.
const maxCerts = 32

// cert returns the certificate at raw, fetched once (see EventHandler for
// the limits). An error wrapping errCertUnavailable means "not now".
func (h *EventHandler) cert(ctx context.Context, raw string) (*x509.Certificate, error) {
	u, err := url.Parse(raw)
	if err != nil || u.User != nil || u.RawQuery != "" || u.Fragment != "" || !h.trust(u) {
		return nil, fmt.Errorf("SigningCertURL %q is not an SNS certificate URL", raw)
	}
	now := time.Now()
	h.mu.Lock()
	if c := h.certs[raw]; c != nil {
		h.mu.Unlock()
		return c, nil
	}
	if f, ok := h.failed[raw]; ok {
		if now.Before(f.until) {
			h.mu.Unlock()
			return nil, f.err
		}
		delete(h.failed, raw)
	}
	f := h.inflight[raw]
	if f != nil {
		h.mu.Unlock()
		select {
		case <-f.done:
			return f.cert, f.err
		case <-ctx.Done():
			return nil, fmt.Errorf("%w: %w", errCertUnavailable, ctx.Err())
		}
	}
	if !h.takeToken(now) {
		h.mu.Unlock()
		return nil, fmt.Errorf("%w: over %d certificate fetches a minute; not fetching %s now", errCertUnavailable, certFetchBurst, raw)
	}
	f = &certFetch{done: make(chan struct{})}
	h.inflight[raw] = f
	h.mu.Unlock()

	// The fetch outlives this request's cancellation: other messages wait
	// for it, and a fetch cut short must not count as a failure.
	fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), certFetchTimeout)
	f.cert, f.err = h.fetchCert(fctx, raw)
	cancel()

	h.mu.Lock()
	delete(h.inflight, raw)
	if f.err == nil {
		if len(h.certs) >= maxCerts {
			clear(h.certs)
		}
		h.certs[raw] = f.cert
	} else {
		f.err = fmt.Errorf("%w: %w (not fetched again for %s)", errCertUnavailable, f.err, certFailureTTL)
		if len(h.failed) >= maxCerts {
			for k, v := range h.failed {
				if !now.Before(v.until) {
					delete(h.failed, k)
				}
			}
			if len(h.failed) >= maxCerts {
				clear(h.failed)
			}
		}
		h.failed[raw] = certFailure{until: time.Now().Add(certFailureTTL), err: f.err}
	}
	h.mu.Unlock()
	close(f.done)
	return f.cert, f.err
}

// takeToken takes one certificate fetch from the token bucket, refilled to
// now; h.mu is held.
func (h *EventHandler) takeToken(now time.Time) bool {
	if d := now.Sub(h.refilled); d > 0 {
		h.tokens = min(certFetchBurst, h.tokens+float64(d)/float64(certFetchInterval))
		h.refilled = now
	}
	if h.tokens < 1 {
		return false
	}
	h.tokens--
	return true
}

// fetchCert fetches and parses the PEM certificate at raw.
func (h *EventHandler) fetchCert(ctx context.Context, raw string) (*x509.Certificate, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, raw, nil)
	if err != nil {
		return nil, err
	}
	resp, err := h.http.Do(req)
	if err != nil {
		return nil, fmt.Errorf("fetch signing certificate: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("fetch signing certificate: HTTP %d", resp.StatusCode)
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if err != nil {
		return nil, fmt.Errorf("fetch signing certificate: %w", err)
	}
	block, _ := pem.Decode(b)
	if block == nil {
		return nil, errors.New("signing certificate is not PEM")
	}
	c, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("signing certificate: %w", err)
	}
	return c, nil
}

// confirm fetches a subscription's SubscribeURL, which SNS signed (the
// message verified) and which must be on SNS's own host.
func (h *EventHandler) confirm(ctx context.Context, raw string) error {
	u, err := url.Parse(raw)
	if err != nil || !h.trustSubscribe(u) {
		return fmt.Errorf("SubscribeURL %q is not on SNS", raw)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, raw, nil)
	if err != nil {
		return err
	}
	resp, err := h.http.Do(req)
	if err != nil {
		return err
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("HTTP %d", resp.StatusCode)
	}
	return nil
}

// trustSubscribe applies the certificate URL's host rule to a SubscribeURL
// (its path is not a .pem).
func (h *EventHandler) trustSubscribe(u *url.URL) bool {
	probe := *u
	probe.Path = "/x.pem"
	return h.trust(&probe)
}

// sesEvent is the part of an SES event (event publishing's eventType, or
// the older notifications' notificationType) the handler reads.
type sesEvent struct {
	EventType        string `json:"eventType"`
	NotificationType string `json:"notificationType"`
	Mail             struct {
		MessageID string              `json:"messageId"`
		Tags      map[string][]string `json:"tags"`
	} `json:"mail"`
	Bounce *struct {
		BounceType        string    `json:"bounceType"`
		BounceSubType     string    `json:"bounceSubType"`
		Timestamp         time.Time `json:"timestamp"`
		BouncedRecipients []struct {
			EmailAddress   string `json:"emailAddress"`
			DiagnosticCode string `json:"diagnosticCode"`
		} `json:"bouncedRecipients"`
	} `json:"bounce"`
	Complaint *struct {
		ComplaintFeedbackType string    `json:"complaintFeedbackType"`
		Timestamp             time.Time `json:"timestamp"`
	} `json:"complaint"`
	Delivery *struct {
		Timestamp time.Time `json:"timestamp"`
	} `json:"delivery"`
	Open *struct {
		Timestamp time.Time `json:"timestamp"`
	} `json:"open"`
	Click *struct {
		Timestamp time.Time `json:"timestamp"`
		Link      string    `json:"link"`
	} `json:"click"`
	Reject *struct {
		Reason string `json:"reason"`
	} `json:"reject"`
	Failure *struct {
		ErrorMessage string `json:"errorMessage"`
	} `json:"failure"`
}

// feedbackOfSES turns an SES event into Feedback; ok is false for events
// that are not reports on a notify delivery.
func feedbackOfSES(message string) (fb notify.Feedback, ok bool, err error) {
	var e sesEvent
	if err := json.Unmarshal([]byte(message), &e); err != nil {
		return fb, false, err
	}
	typ := e.EventType
	if typ == "" {
		typ = e.NotificationType
	}
	ids := e.Mail.Tags[TagDeliveryID]
	if len(ids) == 0 || ids[0] == "" {
		return fb, false, nil
	}
	fb = notify.Feedback{DeliveryID: ids[0], ProviderID: e.Mail.MessageID}
	fail := func(format string, args ...any) error {
		return fmt.Errorf("ses: message %s: "+format, append([]any{e.Mail.MessageID}, args...)...)
	}
	switch typ {
	case "Delivery":
		if e.Delivery != nil {
			fb.At = e.Delivery.Timestamp
		}
	case "Bounce":
		if e.Bounce == nil {
			return fb, false, errors.New("a Bounce event without a bounce")
		}
		fb.At = e.Bounce.Timestamp
		diag := ""
		if len(e.Bounce.BouncedRecipients) > 0 {
			diag = e.Bounce.BouncedRecipients[0].DiagnosticCode
		}
		err := fail("%s bounce (%s) %s", e.Bounce.BounceType, e.Bounce.BounceSubType, diag)
		if e.Bounce.BounceType == "Permanent" {
			fb.Err = notify.InvalidRecipientAt(err, fb.At)
		} else {
			fb.Err = notify.Permanent(err)
		}
	case "Complaint":
		// The message was delivered; the recipient reported it as spam.
		fb.Engagement = notify.StatusComplained
		if e.Complaint != nil {
			fb.At = e.Complaint.Timestamp
			fb.Err = notify.OptedOut(fail("complaint (%s)", e.Complaint.ComplaintFeedbackType))
		} else {
			fb.Err = notify.OptedOut(fail("complaint"))
		}
	case "Reject":
		reason := ""
		if e.Reject != nil {
			reason = e.Reject.Reason
		}
		fb.Err = notify.Permanent(fail("rejected: %s", reason))
	case "Rendering Failure":
		msg := ""
		if e.Failure != nil {
			msg = e.Failure.ErrorMessage
		}
		fb.Err = notify.Permanent(fail("rendering failure: %s", msg))
	case "Open":
		fb.Engagement = notify.StatusOpened
		if e.Open != nil {
			fb.At = e.Open.Timestamp
		}
	case "Click":
		fb.Engagement = notify.StatusClicked
		if e.Click != nil {
			fb.At, fb.Detail = e.Click.Timestamp, e.Click.Link
		}
	default:
		return fb, false, nil
	}
	return fb, true, nil
}
