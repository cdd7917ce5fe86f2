package sms

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/twilio/twilio-go/client"

	"github.com/gonotify/notify"
	"github.com/gonotify/notify/channel/internal/webhook"
)

// DeliveryParam is the query parameter Send adds to the status callback URL
// it gives Twilio: the delivery's ID, which StatusHandler reads back.
const DeliveryParam = "notify_delivery"

// StatusHandlerConfig configures a StatusHandler.
type StatusHandlerConfig struct {
	// AuthToken is the account's auth token: Twilio signs every callback
	// with it (X-Twilio-Signature). Required.
	AuthToken string
	// Recorder receives each final report. Required.
	Recorder notify.FeedbackRecorder
	// PublicURL is the status callback URL as Twilio calls it, the one
	// Config.StatusCallback names (scheme, host and path; the query is the
	// request's): Twilio signs that URL, so the handler verifies against
	// it, whatever Host header or proxy path the request arrives with.
	// Required unless TrustForwardedHeaders is set.
	PublicURL string
	// TrustForwardedHeaders, instead of PublicURL, rebuilds the signed URL
	// from each request: host from X-Forwarded-Host or else Host, https
	// when the request came over TLS or X-Forwarded-Proto says so, and
	// the request's target as received (before any http.StripPrefix). Set
	// it only when a proxy you run sets or overwrites those headers: a
	// request's own headers are the caller's to choose, so a signature
	// Twilio made for another of the account's URLs would verify.
	TrustForwardedHeaders bool
	// Logger receives reports that were dropped or failed. Default
	// slog.Default().
	Logger *slog.Logger
}

// StatusHandler receives Twilio's status callbacks for the messages a
// Channel sent with a StatusCallback, and turns the final ones into
// notify.Feedback:
//
//   - "delivered": the delivery is delivered;
//   - "undelivered" or "failed" with ErrorCode 21610 (STOP): an opt-out
//     for every category, as Send's 21610;
//   - 30005 (unknown handset), 30006 (landline or unreachable carrier),
//     21211, 21612, 21614, 21635: an invalid recipient, whose number is
//     removed;
//   - any other code: undelivered, with the code as the reason.
//
// Other statuses (queued, sending, sent, ...) are acknowledged and ignored.
// The signature (X-Twilio-Signature, compared in constant time) is checked
// against PublicURL, not against the Host header the request carries,
// unless the host opted into TrustForwardedHeaders. A request whose
// signature does not verify gets 403 and is not recorded;
// a report for a delivery the log does not know (pruned, or not sent by
// notify) gets 204 and is dropped; a Recorder failure gets 500, so that
// Twilio's webhook retries (when enabled) can try again.
type StatusHandler struct {
	cfg       StatusHandlerConfig
	validator client.RequestValidator
	public    *url.URL
	log       *slog.Logger
}

// NewStatusHandler returns a StatusHandler. Mount it at the path of
// Config.StatusCallback, and set StatusHandlerConfig.PublicURL to that URL.
func NewStatusHandler(cfg StatusHandlerConfig) (*StatusHandler, error) {
	if cfg.AuthToken == "" {
		return nil, errors.New("sms: StatusHandlerConfig.AuthToken is required: it verifies that callbacks come from Twilio")
	}
	if cfg.Recorder == nil {
		return nil, errors.New("sms: StatusHandlerConfig.Recorder is required (a *notify.Dispatcher)")
	}
	switch {
	case cfg.PublicURL == "" && !cfg.TrustForwardedHeaders:
		return nil, errors.New("sms: StatusHandlerConfig.PublicURL is required: set it to the status callback URL Twilio calls (your Config.StatusCallback), " +
			"or set TrustForwardedHeaders if a proxy you run sets Host and X-Forwarded-Proto")
	case cfg.PublicURL != "" && cfg.TrustForwardedHeaders:
		return nil, errors.New("sms: set StatusHandlerConfig.PublicURL or TrustForwardedHeaders, not both")
	}
	h := &StatusHandler{cfg: cfg, validator: client.NewRequestValidator(cfg.AuthToken), log: cfg.Logger}
	if h.log == nil {
		h.log = slog.Default()
	}
	if cfg.PublicURL != "" {
		u, err := url.Parse(cfg.PublicURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return nil, fmt.Errorf("sms: StatusHandlerConfig.PublicURL %q is not an absolute http(s) URL", cfg.PublicURL)
		}
		h.public = u
	}
	return h, nil
}

// maxCallbackBytes bounds a callback's body; Twilio's are well under 4 KiB.
const maxCallbackBytes = 64 << 10

// ServeHTTP handles one status callback.
func (h *StatusHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, ok := webhook.ReadPost(w, r, maxCallbackBytes, "status callbacks")
	if !ok {
		return
	}
	if !h.validator.ValidateBody(h.signedURL(r), body, r.Header.Get("X-Twilio-Signature")) {
		h.log.WarnContext(r.Context(), "sms: status callback with a bad signature; check StatusHandlerConfig.AuthToken and PublicURL",
			slog.String("url", h.signedURL(r)))
		http.Error(w, "bad signature", http.StatusForbidden)
		return
	}
	form, err := url.ParseQuery(string(body))
	if err != nil {
		http.Error(w, "malformed form", http.StatusBadRequest)
		return
	}
	fb, ok := feedbackOf(r.URL.Query().Get(DeliveryParam), form)
	if !ok {
		w.WriteHeader(http.StatusNoContent)
		return
	}
	switch err := h.cfg.Recorder.Feedback(r.Context(), fb); {
	case err == nil:
		w.WriteHeader(http.StatusNoContent)
	case errors.Is(err, notify.ErrNotFound):
		h.log.WarnContext(r.Context(), "sms: status callback for a delivery the log does not have; dropped",
			slog.String("delivery", fb.DeliveryID), slog.String("sid", fb.ProviderID))
		w.WriteHeader(http.StatusNoContent)
	default:
		h.log.ErrorContext(r.Context(), "sms: record status callback", slog.String("delivery", fb.DeliveryID), slog.Any("error", err))
		http.Error(w, "could not record the report", http.StatusInternalServerError)
	}
}

// signedURL is the URL Twilio signed: the one it requested.
func (h *StatusHandler) signedURL(r *http.Request) string {
	if h.public != nil {
		u := *h.public
		u.RawQuery = r.URL.RawQuery
		return u.String()
	}
	// TrustForwardedHeaders (NewStatusHandler requires one or the other).
	scheme := "http"
	if r.TLS != nil || strings.EqualFold(firstValue(r.Header.Get("X-Forwarded-Proto")), "https") {
		scheme = "https"
	}
	host := firstValue(r.Header.Get("X-Forwarded-Host"))
	if host == "" {
		host = r.Host
	}
	target := r.RequestURI // as Twilio sent it, whatever a router did to r.URL since
	if target == "" {
		target = r.URL.RequestURI()
	}
	return scheme + "://" + host + target
}

// firstValue is the first of a forwarded header's comma-separated values,
// the outermost hop's (hence TrustForwardedHeaders needs a proxy that
// overwrites the headers rather than appending to the caller's).
func firstValue(h string) string {
	v, _, _ := strings.Cut(h, ",")
	return strings.TrimSpace(v)
}

// Twilio's delivery error codes (status callbacks' ErrorCode) beyond the
// API's own.
const (
	codeUnknownHandset = 30005 // unknown destination handset
	codeLandlineOrDead = 30006 // landline or unreachable carrier
)

// feedbackOf turns a callback's form into Feedback for deliveryID; ok is
// false for a report that is not final, or not about a notify delivery.
func feedbackOf(deliveryID string, form url.Values) (fb notify.Feedback, ok bool) {
	if deliveryID == "" {
		return fb, false
	}
	status := form.Get("MessageStatus")
	if status == "" {
		status = form.Get("SmsStatus")
	}
	fb = notify.Feedback{DeliveryID: deliveryID, ProviderID: form.Get("MessageSid")}
	switch status {
	case "delivered":
		return fb, true
	case "undelivered", "failed":
	default:
		return fb, false
	}
	code, _ := strconv.Atoi(form.Get("ErrorCode"))
	err := fmt.Errorf("twilio: message %s %s (error %d)", fb.ProviderID, status, code)
	switch code {
	case codeOptedOut:
		fb.Err = notify.OptedOutEverywhere(err)
	case codeUnknownHandset, codeLandlineOrDead, codeInvalidTo, codeNotReachable, codeNotMobile, codeLandline:
		fb.Err = notify.InvalidRecipient(err)
	default:
		fb.Err = notify.Permanent(err)
	}
	return fb, true
}
