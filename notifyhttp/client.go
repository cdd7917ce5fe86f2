package notifyhttp

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/gonotify/notify"
)

// ClientConfig configures a Client.
type ClientConfig struct {
	BaseURL    string // e.g. "http://127.0.0.1:8080"
	KeyID      string
	Secret     string
	HTTPClient *http.Client // default: a client with a 30s timeout
	// MaxRetries bounds retries of a transport error, a 5xx, a 429 or a
	// 409 in-progress answer (each re-signed, with the same body and event
	// IDs); default 3, negative: none.
	MaxRetries int
	// MinBackoff and MaxBackoff bound the jittered exponential wait
	// between tries (defaults 100ms and 5s); a longer Retry-After is
	// honoured, as long as the context allows.
	MinBackoff, MaxBackoff time.Duration
}

// Client calls a notifyhttp API. It is safe for concurrent use.
type Client struct {
	cfg  ClientConfig
	base *url.URL
	now  func() time.Time
}

// NewClient returns a Client.
func NewClient(cfg ClientConfig) (*Client, error) {
	u, err := url.Parse(strings.TrimSuffix(cfg.BaseURL, "/"))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("notifyhttp: ClientConfig.BaseURL %q: want an absolute http(s) URL such as http://127.0.0.1:8080", cfg.BaseURL)
	}
	if !validKeyID(cfg.KeyID) {
		return nil, errors.New("notifyhttp: ClientConfig.KeyID is empty or malformed (the key's ID, \"nk_...\")")
	}
	if cfg.Secret == "" {
		return nil, errors.New("notifyhttp: ClientConfig.Secret is empty (the secret NewKey or Rotate returned)")
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = &http.Client{Timeout: 30 * time.Second}
	}
	switch {
	case cfg.MaxRetries == 0:
		cfg.MaxRetries = 3
	case cfg.MaxRetries < 0:
		cfg.MaxRetries = 0
	}
	if cfg.MinBackoff <= 0 {
		cfg.MinBackoff = 100 * time.Millisecond
	}
	if cfg.MaxBackoff < cfg.MinBackoff {
		cfg.MaxBackoff = max(5*time.Second, cfg.MinBackoff)
	}
	return &Client{cfg: cfg, base: u, now: time.Now}, nil
}

// newEventID returns a random event ID for a notification that has none,
// so that the Client's retries (and the caller's) are de-duplicated.
func newEventID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return "cli_" + hex.EncodeToString(b[:])
}

// Send sends one notification. A notification without an EventID gets a
// random one first, so retries cannot send it twice; the Receipt says
// which. Errors: *notify.ValidationError (422, Field a JSON path such as
// "to[0].value"), errors wrapping notify.ErrInProgress, ErrUnauthorized,
// ErrForbidden, ErrRateLimited, ErrUnavailable (after the retries), or a
// transport error. After an ErrUnavailable or a transport error, send the
// same notification again (same EventID): it is idempotent.
func (c *Client) Send(ctx context.Context, n notify.Notification) (notify.Receipt, error) {
	if n.EventID == "" {
		n.EventID = newEventID()
	}
	var r notify.Receipt
	err := c.do(ctx, http.MethodPost, "/v1/notifications", nil, n, &r)
	return r, err
}

// SendBatch sends many notifications in one request (at most the server's
// MaxBatch, default 1000). receipts[i] answers ns[i]; when some fail the
// error is a *notify.BatchError whose Errs[i] says why, as
// Dispatcher.SendBatch's. Notifications without an EventID get a random
// one. A retried batch answers the notifications the first try accepted as
// duplicates (Receipt.Duplicate).
func (c *Client) SendBatch(ctx context.Context, ns []notify.Notification) ([]notify.Receipt, error) {
	ns = append([]notify.Notification(nil), ns...)
	for i := range ns {
		if ns[i].EventID == "" {
			ns[i].EventID = newEventID()
		}
	}
	var br BatchResponse
	if err := c.do(ctx, http.MethodPost, "/v1/notifications:batch", nil, BatchRequest{Notifications: ns}, &br); err != nil {
		return nil, err
	}
	if len(br.Results) != len(ns) {
		return nil, fmt.Errorf("notifyhttp: the server answered %d results for %d notifications", len(br.Results), len(ns))
	}
	receipts := make([]notify.Receipt, len(ns))
	var errs []error
	for i, res := range br.Results {
		switch {
		case res.Error != nil:
			if errs == nil {
				errs = make([]error, len(ns))
			}
			errs[i] = problemError(res.Error)
		case res.Receipt != nil:
			receipts[i] = *res.Receipt
		}
	}
	if errs != nil {
		return receipts, &notify.BatchError{Errs: errs}
	}
	return receipts, nil
}

// Status returns every delivery's log of a notification, oldest first; an
// error wrapping notify.ErrNotFound for an unknown ID.
func (c *Client) Status(ctx context.Context, notificationID string) ([]notify.DeliveryRecord, error) {
	var sr StatusResponse
	err := c.do(ctx, http.MethodGet, "/v1/notifications/"+url.PathEscape(notificationID), nil, nil, &sr)
	return sr.Deliveries, err
}

// StatusByEvent returns the ID of the notification sent for eventID and
// every delivery's log; notify.ErrNotFound when the event is not known
// (never sent, or past the server's dedup window).
func (c *Client) StatusByEvent(ctx context.Context, eventID string) (string, []notify.DeliveryRecord, error) {
	var sr StatusResponse
	err := c.do(ctx, http.MethodGet, "/v1/events/"+url.PathEscape(eventID), nil, nil, &sr)
	return sr.NotificationID, sr.Deliveries, err
}

// Cancel cancels the unsent deliveries of the notification sent for
// eventID (send scope), as notify.Dispatcher.Cancel does:
// notify.ErrNotFound for an unknown event, errors.ErrUnsupported when the
// server's queue cannot take jobs back. A retried Cancel answers as the
// first did.
func (c *Client) Cancel(ctx context.Context, eventID string) (notify.CancelResult, error) {
	var res notify.CancelResult
	err := c.do(ctx, http.MethodPost, "/v1/events/"+url.PathEscape(eventID)+":cancel", nil, nil, &res)
	return res, err
}

// CancelNotification cancels the unsent deliveries of a notification by
// its ID (send scope), as notify.Dispatcher.CancelNotification does.
func (c *Client) CancelNotification(ctx context.Context, notificationID string) (notify.CancelResult, error) {
	var res notify.CancelResult
	err := c.do(ctx, http.MethodPost, "/v1/notifications/"+url.PathEscape(notificationID)+":cancel", nil, nil, &res)
	return res, err
}

// Replay queues a dead delivery again (admin scope); notify.ErrNotFound,
// notify.ErrNotDead.
func (c *Client) Replay(ctx context.Context, deliveryID string) error {
	return c.do(ctx, http.MethodPost, "/v1/deliveries/"+url.PathEscape(deliveryID)+":replay", nil, nil, nil)
}

// PutContact stores the user's contact (admin scope), checked as
// Dispatcher.PutContact checks it.
func (c *Client) PutContact(ctx context.Context, ct notify.Contact) error {
	if ct.UserID == "" {
		return &notify.ValidationError{Field: "user_id", Reason: "empty: a contact belongs to a user"}
	}
	return c.do(ctx, http.MethodPut, "/v1/users/"+url.PathEscape(ct.UserID)+"/contact", nil, ct, nil)
}

// Contact returns the user's contact, or notify.ErrNotFound.
func (c *Client) Contact(ctx context.Context, userID string) (notify.Contact, error) {
	var ct notify.Contact
	err := c.do(ctx, http.MethodGet, "/v1/users/"+url.PathEscape(userID)+"/contact", nil, nil, &ct)
	return ct, err
}

// RegisterDevice adds a device to the user's contact, or refreshes its
// registration time (admin scope); it returns the contact as stored, and
// the user the token was taken from if another user held it.
func (c *Client) RegisterDevice(ctx context.Context, userID string, dev notify.Device) (DeviceRegistered, error) {
	var r DeviceRegistered
	err := c.do(ctx, http.MethodPost, "/v1/users/"+url.PathEscape(userID)+"/devices", nil, dev, &r)
	return r, err
}

// UnregisterDevice removes a device token from the user's contact (admin
// scope); removing one the user does not have is not an error.
func (c *Client) UnregisterDevice(ctx context.Context, userID, platform, token string) error {
	q := url.Values{"platform": {platform}, "token": {token}}
	return c.do(ctx, http.MethodDelete, "/v1/users/"+url.PathEscape(userID)+"/devices", q, nil, nil)
}

// Preference reports whether the user accepts category on channel.
func (c *Client) Preference(ctx context.Context, userID, category, channel string) (bool, error) {
	var p Preference
	err := c.do(ctx, http.MethodGet, prefPath(userID, category, channel), nil, nil, &p)
	return p.Allowed, err
}

// Preferences lists every setting of the user, by category and then
// channel (read scope), for a settings screen.
func (c *Client) Preferences(ctx context.Context, userID string) ([]notify.Preference, error) {
	var ps Preferences
	err := c.do(ctx, http.MethodGet, "/v1/users/"+url.PathEscape(userID)+"/preferences", nil, nil, &ps)
	return ps.Preferences, err
}

// SetPreference allows or opts the user out of category (notify.AllCategories:
// every category) on channel (notify.AllChannels: every channel) (admin
// scope). See notify.Consent for which setting wins.
func (c *Client) SetPreference(ctx context.Context, userID, category, channel string, allowed bool) error {
	return c.do(ctx, http.MethodPut, prefPath(userID, category, channel), nil, map[string]bool{"allowed": allowed}, nil)
}

func prefPath(user, cat, ch string) string {
	return "/v1/users/" + url.PathEscape(user) + "/preferences/" + url.PathEscape(cat) + "/" + url.PathEscape(ch)
}

// do sends one API call, signing each try anew, retrying what is safe to
// retry, and decodes a 2xx answer into out (when not nil).
func (c *Client) do(ctx context.Context, method, path string, query url.Values, in, out any) error {
	var body []byte
	if in != nil {
		var err error
		if body, err = json.Marshal(in); err != nil {
			return fmt.Errorf("notifyhttp: encode the request: %w", err)
		}
	}
	u := *c.base
	u.Path = c.base.Path + mustUnescape(path)
	u.RawPath = c.base.EscapedPath() + path
	u.RawQuery = query.Encode()
	var lastErr error
	for try := 0; ; try++ {
		retry, wait, err := c.try(ctx, method, u.String(), body, out)
		if err == nil {
			return nil
		}
		lastErr = err
		if !retry || try >= c.cfg.MaxRetries {
			return lastErr
		}
		backoff := min(c.cfg.MaxBackoff, c.cfg.MinBackoff<<min(try, 20))
		backoff = backoff/2 + mrand.N(backoff/2+1)
		wait = max(wait, backoff)
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("%w (and the context ended before a retry: %v)", lastErr, ctx.Err())
		case <-t.C:
		}
	}
}

func mustUnescape(p string) string {
	s, err := url.PathUnescape(p)
	if err != nil {
		return p
	}
	return s
}

// try sends one request: whether a failure may be retried, how long the
// server asked to wait, and the error.
func (c *Client) try(ctx context.Context, method, u string, body []byte, out any) (bool, time.Duration, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, rd)
	if err != nil {
		return false, 0, fmt.Errorf("notifyhttp: build the request: %w", err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/json")
	SignRequest(req, body, c.cfg.KeyID, c.cfg.Secret, c.now())
	resp, err := c.cfg.HTTPClient.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return false, 0, fmt.Errorf("notifyhttp: %s %s: %w", method, req.URL.Path, err)
		}
		return true, 0, fmt.Errorf("notifyhttp: %s %s: %w (retry the same request)", method, req.URL.Path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return true, 0, fmt.Errorf("notifyhttp: %s %s: read the answer: %w", method, req.URL.Path, err)
	}
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		if out != nil && len(data) > 0 {
			if err := json.Unmarshal(data, out); err != nil {
				return false, 0, fmt.Errorf("notifyhttp: %s %s: decode the answer: %w", method, req.URL.Path, err)
			}
		}
		return false, 0, nil
	}
	p := &Problem{}
	if err := json.Unmarshal(data, p); err != nil || p.Status == 0 {
		p = &Problem{Status: resp.StatusCode, Title: http.StatusText(resp.StatusCode), Type: "about:blank"}
	}
	if ra, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil && ra > 0 {
		p.RetryAfter = ra
	}
	retry := resp.StatusCode >= 500 || resp.StatusCode == http.StatusTooManyRequests || p.Type == ProblemInProgress
	return retry, time.Duration(p.RetryAfter) * time.Second, problemError(p)
}

// problemError maps a problem to the library's typed errors: a 422 to a
// *notify.ValidationError (wrapping the Problem), anything else to the
// *Problem itself, which matches the notify sentinels with errors.Is.
func problemError(p *Problem) error {
	if p.Status == http.StatusUnprocessableEntity {
		return &notify.ValidationError{Field: p.Field, Reason: p.Detail, Err: p}
	}
	return p
}
