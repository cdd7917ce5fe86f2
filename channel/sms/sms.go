package sms

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/gonotify/notify"
	"github.com/twilio/twilio-go/client"
	twilioapi "github.com/twilio/twilio-go/rest/api/v2010"
)

// Config configures a Channel. Zero values mean the documented defaults.
type Config struct {
	// AccountSID is the Twilio account ("AC…"). Required.
	AccountSID string
	// AuthToken is the account's auth token. Required unless APIKey and
	// APISecret are set. It never appears in logs or errors.
	AuthToken string
	// APIKey and APISecret, when both set, authenticate instead of the
	// auth token (Twilio API keys, "SK…").
	APIKey, APISecret string

	// From is the default sender: an E.164 number, a short code or an
	// alphanumeric sender ID. Options.From overrides it.
	From string
	// MessagingServiceSID is the default Messaging Service ("MG…"); with it
	// Twilio picks the sender from the service's pool. At least one of From
	// and MessagingServiceSID must be set, here or in every delivery's Options.
	MessagingServiceSID string
	// DefaultRegion is the ISO 3166-1 region ("US", "GB") whose national
	// numbers ("(415) 555-0100", "020 7946 0000") NormalizeAddress
	// accepts, as that region's. Default: none, and every number must be
	// in international form ("+14155550100").
	DefaultRegion string
	// AllowLandlines accepts fixed-line numbers, which NormalizeAddress
	// refuses by default (ErrNumberType): a landline cannot receive SMS,
	// and Twilio would fail the send (21614) after it was queued. Set it
	// when the sender reaches landlines (text-to-speech). Numbers that may
	// be either (FixedLineOrMobile, every North American number) are
	// always accepted.
	AllowLandlines bool
	// RejectTypes are number types NormalizeAddress refuses on top of
	// landlines (PremiumRate, Pager, …). Default: none.
	RejectTypes []NumberType
	// NormalizeCache is how many inputs NormalizeAddress remembers its
	// answer for (the E.164 number or the refusal), so that a number seen
	// before costs a map look-up instead of a parse (tens of
	// microseconds of CPU): Dispatcher.Send normalizes every number it
	// reads from the Store, numbers PutContact normalized already. An accepted
	// number's E.164 form is remembered with it. The cache is the
	// Channel's own and holds at most NormalizeCache entries, each the
	// input (at most MaxPhoneInput bytes; longer input is refused without
	// a parse and not remembered) and its answer: about 130 bytes for an
	// E.164 number, 330 for a refusal (which names the number and says
	// why), so about 1 MB when the default size is full of numbers.
	// Numbers not asked for recently are dropped first (two generations
	// of half the size each). Default DefaultNormalizeCache (8192);
	// negative turns the cache off.
	NormalizeCache int

	// StatusCallback is the default URL Twilio posts status changes to,
	// where a StatusHandler records them. Send adds the delivery's ID to it
	// (the DeliveryParam query parameter).
	StatusCallback string

	// BaseURL, when set, replaces Twilio's scheme and host on every request
	// (a proxy, or a local server imitating Twilio in tests). Default: Twilio.
	BaseURL string
	// Region and Edge select a Twilio region and edge location (as
	// TWILIO_REGION and TWILIO_EDGE do for twilio-go). Default: none.
	Region, Edge string
	// Transport sends the HTTP requests. Default: a clone of
	// http.DefaultTransport owned by the Channel.
	Transport http.RoundTripper
	// Timeout bounds one API call, on top of the context's own deadline.
	// Default 30s.
	Timeout time.Duration
	// Logger receives warnings. Default slog.Default().
	Logger *slog.Logger
}

// Channel sends SMS through Twilio's Messages API. It implements
// notify.Channel, notify.Validator and notify.AddressNormalizer (phone
// numbers stored and sent in E.164) and is safe for concurrent use.
type Channel struct {
	cfg       Config
	user      string
	pass      string
	rewrite   *url.URL
	transport http.RoundTripper
	log       *slog.Logger
	cache     *addressCache // NormalizeAddress's answers; nil: none
}

var (
	_ notify.Channel           = (*Channel)(nil)
	_ notify.Validator         = (*Channel)(nil)
	_ notify.AddressNormalizer = (*Channel)(nil)
)

// New checks cfg and returns a Channel. It makes no network call.
func New(cfg Config) (*Channel, error) {
	if cfg.AccountSID == "" {
		return nil, errors.New("sms: Config.AccountSID is required (the Twilio account SID, AC…)")
	}
	user, pass := cfg.AccountSID, cfg.AuthToken
	if cfg.APIKey != "" || cfg.APISecret != "" {
		if cfg.APIKey == "" || cfg.APISecret == "" {
			return nil, errors.New("sms: set both Config.APIKey and Config.APISecret, or neither")
		}
		user, pass = cfg.APIKey, cfg.APISecret
	}
	if pass == "" {
		return nil, errors.New("sms: Config.AuthToken is required (or Config.APIKey and Config.APISecret)")
	}
	if !alnum(user) || !alnum(pass) {
		// twilio-go refuses such credentials itself (errors 21222/21224).
		return nil, errors.New("sms: the account SID (or API key) and the auth token (or API secret) must be letters and digits only; check for stray quotes or spaces")
	}
	o := Options{From: cfg.From, MessagingServiceSID: cfg.MessagingServiceSID, StatusCallback: cfg.StatusCallback}
	if field, err := o.check(); err != nil {
		return nil, fmt.Errorf("sms: Config.%s: %w", configField(field), err)
	}
	region, err := NormalizeRegion(cfg.DefaultRegion)
	if err != nil {
		return nil, fmt.Errorf("sms: Config.DefaultRegion: %w", err)
	}
	cfg.DefaultRegion = region
	for i, t := range cfg.RejectTypes {
		if t < UnknownType || t > Voicemail {
			return nil, fmt.Errorf("sms: Config.RejectTypes[%d]: unknown number type %d", i, int(t))
		}
	}
	cfg.RejectTypes = slices.Clone(cfg.RejectTypes)
	if cfg.NormalizeCache == 0 {
		cfg.NormalizeCache = DefaultNormalizeCache
	}
	c := &Channel{cfg: cfg, user: user, pass: pass, transport: cfg.Transport, log: cfg.Logger,
		cache: newAddressCache(cfg.NormalizeCache)}
	if cfg.BaseURL != "" {
		u, err := url.Parse(cfg.BaseURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return nil, fmt.Errorf("sms: Config.BaseURL %q is not an absolute http(s) URL", cfg.BaseURL)
		}
		c.rewrite = u
	}
	if c.transport == nil {
		c.transport = http.DefaultTransport.(*http.Transport).Clone()
	}
	if c.cfg.Timeout <= 0 {
		c.cfg.Timeout = 30 * time.Second
	}
	if c.log == nil {
		c.log = slog.Default()
	}
	return c, nil
}

func configField(optionField string) string {
	switch optionField {
	case "from":
		return "From"
	case "messaging_service_sid":
		return "MessagingServiceSID"
	case "status_callback":
		return "StatusCallback"
	}
	return optionField
}

func alnum(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if (c < '0' || c > '9') && (c < 'a' || c > 'z') && (c < 'A' || c > 'Z') {
			return false
		}
	}
	return true
}

// Name returns notify.ChannelSMS ("sms").
func (c *Channel) Name() string { return notify.ChannelSMS }

// Close releases idle connections of the Channel's own transport.
func (c *Channel) Close() error {
	if t, ok := c.transport.(interface{ CloseIdleConnections() }); ok && c.cfg.Transport == nil {
		t.CloseIdleConnections()
	}
	return nil
}

// body is the text sent: Message.Body, or Message.Text when Body is empty.
func body(m *notify.Message) string {
	if m.Body != "" {
		return m.Body
	}
	return m.Text
}

// Validate checks d at accept time: the address is E.164, the body is not
// empty, is valid UTF-8 and at most 1600 characters, the options decode and
// hold valid values, and a sender is known; it sets d.Units to the number
// of segments when there are several. It returns a
// *notify.ValidationError naming the field (notify.FieldAddress, "Content" or
// "Data", "Options.sms").
func (c *Channel) Validate(d *notify.Delivery) error {
	if !ValidPhone(d.Address) {
		return &notify.ValidationError{Field: notify.FieldAddress, Reason: fmt.Sprintf("%q is not an E.164 phone number (+ and 7 to 15 digits, e.g. +14155550100)", d.Address)}
	}
	content := "Content"
	if d.Template != "" {
		content = "Data"
	}
	text := body(&d.Message)
	switch n := utf8.RuneCountInString(text); {
	case text == "":
		return &notify.ValidationError{Field: content, Reason: "the SMS body is empty (set Message.Body)"}
	case !utf8.ValidString(text):
		return &notify.ValidationError{Field: content, Reason: "the SMS body is not valid UTF-8"}
	case n > MaxChars:
		segs, enc := Segments(text)
		return &notify.ValidationError{Field: content, Reason: fmt.Sprintf("the SMS body is %d characters (%d %s segments); Twilio accepts at most %d", n, segs, enc, MaxChars)}
	}
	o, err := DecodeOptions(d.Options)
	if err != nil {
		return &notify.ValidationError{Field: "Options.sms", Reason: err.Error(), Err: err}
	}
	if field, err := o.check(); err != nil {
		return &notify.ValidationError{Field: "Options.sms." + field, Reason: err.Error(), Err: err}
	}
	if o.From == "" && o.MessagingServiceSID == "" && c.cfg.From == "" && c.cfg.MessagingServiceSID == "" {
		return &notify.ValidationError{Field: "Options.sms.from", Reason: "no sender: set sms.Config.From or MessagingServiceSID, or from / messaging_service_sid in the options"}
	}
	if segs, _ := Segments(text); segs > 1 {
		d.Units = segs // reported in the Receipt
	}
	return nil
}

// Send posts d to Twilio's Messages API and classifies the outcome:
//
//   - accepted (201): Result.ProviderID is the message SID and Result.Units
//     the number of segments Twilio reports (or Segments' count);
//   - 21610 (the recipient sent STOP): notify.OptedOutEverywhere (STOP
//     blocks every message from the sender, whatever its category);
//   - 21211, 21612, 21614, 21635 (not a reachable mobile number):
//     notify.InvalidRecipient;
//   - 20429, HTTP 429, 21611: notify.Retryable with the Retry-After header;
//   - HTTP 5xx (JSON or not) and transport failures after the request was
//     written: retryable with MaybeSent, since Twilio may have queued it;
//   - 20003, 20404, 21212, 21222, 21224, 21408, 21606, 21608 and HTTP
//     401/403: notify.ConfigError;
//   - 21602, 21617 and other 4xx: notify.Permanent.
//
// ctx bounds the call (with Config.Timeout); canceling it aborts the request.
func (c *Channel) Send(ctx context.Context, d *notify.Delivery) (notify.Result, error) {
	o, err := DecodeOptions(d.Options)
	if err != nil {
		return notify.Result{}, notify.Permanent(fmt.Errorf("sms: delivery %s: %w", d.ID, err))
	}
	text := body(&d.Message)
	params := &twilioapi.CreateMessageParams{}
	params.SetTo(d.Address).SetBody(text)
	if from := first(o.From, c.cfg.From); from != "" {
		params.SetFrom(from)
	}
	if sid := first(o.MessagingServiceSID, c.cfg.MessagingServiceSID); sid != "" {
		params.SetMessagingServiceSid(sid)
	}
	if cb := first(o.StatusCallback, c.cfg.StatusCallback); cb != "" {
		params.SetStatusCallback(callbackFor(cb, d.ID))
	}
	if v := validity(o.ValidityPeriod, d.ExpiresAt, time.Now()); v > 0 {
		params.SetValidityPeriod(v)
	} else if v < 0 {
		return notify.Result{}, notify.Permanent(fmt.Errorf("sms: delivery %s expired at %s before it could be sent", d.ID, d.ExpiresAt.Format(time.RFC3339)))
	}

	ctx, cancel := context.WithTimeout(ctx, c.cfg.Timeout)
	defer cancel()
	cl := &call{ctx: ctx, base: c.transport, rewrite: c.rewrite}
	tc := &client.Client{
		Credentials: client.NewCredentials(c.user, c.pass),
		HTTPClient:  &http.Client{Transport: cl, CheckRedirect: noRedirect},
	}
	tc.SetAccountSid(c.cfg.AccountSID)
	api := twilioapi.NewApiService(&client.RequestHandler{Client: tc, Edge: c.cfg.Edge, Region: c.cfg.Region})

	msg, err := api.CreateMessage(params)
	if err != nil {
		if cl.status >= 200 && cl.status < 300 {
			// Twilio accepted the message; only its answer was unreadable.
			// Retrying would send it twice.
			c.log.WarnContext(ctx, "sms: Twilio accepted the message but its response could not be decoded",
				slog.String("delivery_id", d.ID), slog.Int("status", cl.status), slog.Any("error", err))
			segs, _ := Segments(text)
			return notify.Result{Units: segs}, nil
		}
		return notify.Result{}, classify(ctx, cl, fmt.Errorf("sms: delivery %s: %w", d.ID, err))
	}
	res := notify.Result{}
	if msg.Sid != nil {
		res.ProviderID = *msg.Sid
	}
	if msg.NumSegments != nil {
		res.Units, _ = strconv.Atoi(*msg.NumSegments)
	}
	if res.Units <= 0 {
		res.Units, _ = Segments(text)
	}
	return res, nil
}

func first(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// validity is the ValidityPeriod to send: the explicit one, else the
// seconds left until expires (capped at MaxValidity), else 0 (Twilio's
// default). It is negative when expires has passed.
func validity(explicit int, expires, now time.Time) int {
	if explicit > 0 {
		return explicit
	}
	if expires.IsZero() {
		return 0
	}
	left := expires.Sub(now)
	if left <= 0 {
		return -1
	}
	return int(min(math.Ceil(left.Seconds()), MaxValidity))
}

// Twilio error codes the classification names.
const (
	codeAuth            = 20003 // authentication failed
	codeNotFound        = 20404 // resource not found (wrong account SID)
	codeTooManyRequests = 20429
	codeInvalidTo       = 21211
	codeInvalidFrom     = 21212
	codeBadUsername     = 21222 // rejected by twilio-go before sending
	codeBadPassword     = 21224
	codeRegionDisabled  = 21408 // permission to send to this region not enabled
	codeBodyRequired    = 21602
	codeQueueOverflow   = 21611 // the From number's queue is full
	codeNotReachable    = 21612
	codeNotMobile       = 21614
	codeFromNotOwned    = 21606 // From is not a valid, SMS-capable number of the account
	codeTrialUnverified = 21608 // trial accounts send only to verified numbers
	codeOptedOut        = 21610
	codeBodyTooLong     = 21617
	codeLandline        = 21635 // To is a landline, not messageable
)

// classify turns a failed CreateMessage into a notify outcome.
func classify(ctx context.Context, cl *call, err error) error {
	var te *client.TwilioRestError
	if errors.As(err, &te) {
		switch te.Code {
		case codeOptedOut:
			return notify.OptedOutEverywhere(err)
		case codeInvalidTo, codeNotReachable, codeNotMobile, codeLandline:
			return notify.InvalidRecipient(err)
		case codeTooManyRequests, codeQueueOverflow:
			return notify.Retryable(err, cl.retryAfter)
		case codeAuth, codeNotFound, codeInvalidFrom, codeBadUsername, codeBadPassword,
			codeRegionDisabled, codeFromNotOwned, codeTrialUnverified:
			return notify.ConfigError(err)
		case codeBodyRequired, codeBodyTooLong:
			return notify.Permanent(err)
		}
		status := cl.status
		if status == 0 {
			status = te.Status
		}
		return byStatus(status, cl, err)
	}
	if cl.status != 0 {
		// An error answer that was not Twilio's JSON (an HTML error page
		// from a proxy or load balancer).
		return byStatus(cl.status, cl, fmt.Errorf("%w (HTTP %d: %s)", err, cl.status, snippet(cl.body)))
	}
	// No response: the request failed in transport, or ctx ended.
	if cl.wrote.Load() {
		return notify.Uncertain(err)
	}
	if ctx.Err() != nil {
		return notify.Retryable(fmt.Errorf("%w (the request was not sent)", err), 0)
	}
	return notify.Retryable(err, 0)
}

func byStatus(status int, cl *call, err error) error {
	switch {
	case status == http.StatusTooManyRequests:
		return notify.Retryable(err, cl.retryAfter)
	case status >= 500:
		return &notify.OutcomeError{Outcome: notify.OutcomeRetry, Err: err, RetryAfter: cl.retryAfter, MaybeSent: true}
	case status == http.StatusUnauthorized, status == http.StatusForbidden, status == http.StatusNotFound:
		return notify.ConfigError(err)
	case status == http.StatusRequestTimeout:
		return notify.Uncertain(err)
	}
	return notify.Permanent(err)
}

// callbackFor is the status callback URL cb with the delivery's ID added
// (DeliveryParam), so StatusHandler knows which delivery a report is about.
// The host's own query, if any, is kept byte for byte.
func callbackFor(cb, deliveryID string) string {
	base, frag, _ := strings.Cut(cb, "#")
	sep := "?"
	if strings.Contains(base, "?") {
		sep = "&"
	}
	out := base + sep + DeliveryParam + "=" + url.QueryEscape(deliveryID)
	if frag != "" {
		out += "#" + frag
	}
	return out
}

// snippet is the start of an error body, on one line, for an error message.
func snippet(b []byte) string {
	s := strings.Join(strings.Fields(strings.ToValidUTF8(string(b), "?")), " ")
	if len(s) > 120 {
		s = strings.ToValidUTF8(s[:120], "") + "…"
	}
	if s == "" {
		return "empty body"
	}
	return s
}
