package email

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptrace"
	"strings"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/sesv2"
	"github.com/aws/aws-sdk-go-v2/service/sesv2/types"
	"github.com/aws/smithy-go"

	"github.com/gonotify/notify"
	"github.com/gonotify/notify/channel/internal/retryafter"
)

// MaxMessageBytes is SES v2's limit on one message, encoded, headers
// included (40 MB). Validate rejects content whose encoded size would pass it.
const MaxMessageBytes = 40 << 20

// Message tag names the channel sets on every email, so that SES events
// (bounce, complaint, delivery, open, click) can be matched back to the
// delivery.
const (
	TagNotificationID = "notification_id"
	TagDeliveryID     = "delivery_id"
	TagCategory       = "category"
)

// Config configures a Channel. Zero values mean the documented defaults.
type Config struct {
	// From is the default sender, "Display Name <address>" or a bare
	// address, of an identity verified in SES. Options.From overrides it;
	// one of the two is required.
	From string
	// ReplyTo are the default Reply-To addresses.
	ReplyTo []string
	// ConfigurationSet is the default SES configuration set.
	ConfigurationSet string
	// Headers are added to every message (see Options.Headers for the rules).
	Headers map[string]string
	// Unsubscribe, when set, returns the List-Unsubscribe targets (https:
	// or mailto: URLs) for a delivery, and whether to offer one-click
	// unsubscribe; return nil for none (transactional categories). It is
	// called at accept time and at send time, so it must be deterministic
	// and safe for concurrent use. Options.ListUnsubscribe overrides it.
	Unsubscribe func(d *notify.Delivery) (targets []string, oneClick bool)
	// Tags are extra message tags on every message.
	Tags map[string]string
	// Logger receives warnings. Default slog.Default().
	Logger *slog.Logger
}

// Channel sends email through Amazon SES v2 (SendEmail, simple content). It
// implements notify.Channel, notify.Validator and notify.AddressNormalizer
// (see NormalizeAddress) and is safe for concurrent use.
type Channel struct {
	api     *sesv2.Client
	creds   aws.CredentialsProvider // api's, checked before each call
	cfg     Config
	retryer aws.Retryer
	log     *slog.Logger
}

var (
	_ notify.Channel           = (*Channel)(nil)
	_ notify.Validator         = (*Channel)(nil)
	_ notify.AddressNormalizer = (*Channel)(nil)
)

// New returns a Channel that sends with api. Whatever retryer api was built
// with, every call made by the Channel uses one that makes a single attempt
// and has no retry token bucket: the Dispatcher's retry policy is the only
// one, and concurrent sends cannot fail with "retry quota exceeded"
// (aws-sdk-go-v2 #1665). It makes no network call.
func New(api *sesv2.Client, cfg Config) (*Channel, error) {
	if api == nil {
		return nil, errors.New("email: the sesv2.Client is nil (build one with sesv2.NewFromConfig)")
	}
	if cfg.From != "" {
		if _, err := parseAddress(cfg.From); err != nil {
			return nil, fmt.Errorf("email: Config.From: %w", err)
		}
	}
	for i, a := range cfg.ReplyTo {
		if _, err := parseAddress(a); err != nil {
			return nil, fmt.Errorf("email: Config.ReplyTo[%d]: %w", i, err)
		}
	}
	for k, v := range cfg.Headers {
		if err := checkHeader(k, v); err != nil {
			return nil, fmt.Errorf("email: Config.Headers: %w", err)
		}
	}
	c := &Channel{api: api, creds: api.Options().Credentials, cfg: cfg, log: cfg.Logger}
	c.retryer = retry.AddWithMaxAttempts(retry.NewStandard(func(o *retry.StandardOptions) {
		o.RateLimiter = ratelimit.None
	}), 1)
	if c.log == nil {
		c.log = slog.Default()
	}
	return c, nil
}

// Name returns notify.ChannelEmail ("email").
func (c *Channel) Name() string { return notify.ChannelEmail }

// prepared is a delivery turned into a SendEmail input.
type prepared struct {
	in   *sesv2.SendEmailInput
	size int // estimated encoded size
}

// prepare builds the SendEmail input for d, checking everything Validate
// promises. field names the offending part for a ValidationError.
func (c *Channel) prepare(d *notify.Delivery) (p prepared, field string, err error) {
	o, err := DecodeOptions(d.Options)
	if err != nil {
		return p, "Options.email", err
	}
	to, err := parseAddress(d.Address)
	if err != nil {
		return p, notify.FieldAddress, err
	}
	from := first(o.From, c.cfg.From)
	if from == "" {
		return p, "Options.email.from", errors.New("no sender: set email.Config.From or from in the options")
	}
	if from, err = parseAddress(from); err != nil {
		return p, "Options.email.from", err
	}
	replyTo := o.ReplyTo
	if len(replyTo) == 0 {
		replyTo = c.cfg.ReplyTo
	}
	replies := make([]string, len(replyTo))
	for i, a := range replyTo {
		if replies[i], err = parseAddress(a); err != nil {
			return p, "Options.email.reply_to", err
		}
	}

	content := "Content"
	if d.Template != "" {
		content = "Data"
	}
	m := &d.Message
	switch {
	case strings.TrimSpace(m.Subject) == "":
		return p, content, errors.New("the email has no subject (set Message.Subject)")
	case m.Text == "" && m.HTML == "":
		return p, content, errors.New("the email has no body (set Message.Text, Message.HTML or both)")
	case strings.ContainsAny(m.Subject, "\r\n"):
		return p, content, errors.New("the subject holds a line break")
	case !utf8.ValidString(m.Subject) || !utf8.ValidString(m.Text) || !utf8.ValidString(m.HTML):
		return p, content, errors.New("the email is not valid UTF-8")
	}

	var headers []types.MessageHeader
	size := 0
	for _, kv := range mergeHeaders(c.cfg.Headers, o.Headers) {
		if err := checkHeader(kv[0], kv[1]); err != nil {
			return p, "Options.email.headers", err
		}
		headers = append(headers, types.MessageHeader{Name: aws.String(kv[0]), Value: aws.String(kv[1])})
		size += len(kv[0]) + len(kv[1]) + 4
	}
	targets, oneClick := o.ListUnsubscribe, o.OneClick
	if len(targets) == 0 && !oneClick && c.cfg.Unsubscribe != nil {
		targets, oneClick = c.cfg.Unsubscribe(d)
	}
	unsub, err := unsubscribeHeaders(targets, oneClick)
	if err != nil {
		return p, "Options.email.list_unsubscribe", err
	}
	for _, kv := range unsub {
		headers = append(headers, types.MessageHeader{Name: aws.String(kv[0]), Value: aws.String(kv[1])})
		size += len(kv[0]) + len(kv[1]) + 4
	}

	body := &types.Body{}
	if m.Text != "" {
		body.Text = &types.Content{Data: aws.String(m.Text), Charset: aws.String("UTF-8")}
	}
	if m.HTML != "" {
		body.Html = &types.Content{Data: aws.String(m.HTML), Charset: aws.String("UTF-8")}
	}
	size += encodedSize(len(m.Text)) + encodedSize(len(m.HTML)) + encodedSize(len(m.Subject)) +
		len(from) + len(to) + 2048 // envelope headers SES adds, MIME boundaries
	for _, r := range replies {
		size += len(r) + 2
	}
	if size > MaxMessageBytes {
		return p, content, fmt.Errorf("the email would be about %d bytes encoded; SES accepts at most %d", size, MaxMessageBytes)
	}

	tags := []types.MessageTag{
		{Name: aws.String(TagNotificationID), Value: aws.String(sanitizeTag(d.NotificationID))},
		{Name: aws.String(TagDeliveryID), Value: aws.String(sanitizeTag(d.ID))},
		{Name: aws.String(TagCategory), Value: aws.String(sanitizeTag(d.Category))},
	}
	seen := map[string]bool{TagNotificationID: true, TagDeliveryID: true, TagCategory: true}
	for _, kv := range mergeHeaders(c.cfg.Tags, o.Tags) { // same merge: sorted, later wins
		name := sanitizeTag(kv[0])
		if seen[name] { // SES rejects a tag name given twice
			continue
		}
		seen[name] = true
		tags = append(tags, types.MessageTag{Name: aws.String(name), Value: aws.String(sanitizeTag(kv[1]))})
	}

	in := &sesv2.SendEmailInput{
		FromEmailAddress: aws.String(from),
		Destination:      &types.Destination{ToAddresses: []string{to}},
		ReplyToAddresses: replies,
		Content: &types.EmailContent{Simple: &types.Message{
			Subject: &types.Content{Data: aws.String(m.Subject), Charset: aws.String("UTF-8")},
			Body:    body,
			Headers: headers,
		}},
		EmailTags: tags,
	}
	if cs := first(o.ConfigurationSet, c.cfg.ConfigurationSet); cs != "" {
		in.ConfigurationSetName = aws.String(cs)
	}
	return prepared{in: in, size: size}, "", nil
}

// encodedSize is n bytes after base64 with 76-character lines, the worst
// transfer encoding SES picks.
func encodedSize(n int) int {
	if n == 0 {
		return 0
	}
	b64 := (n + 2) / 3 * 4
	return b64 + b64/76*2 + 2
}

func first(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// Validate checks d at accept time: the recipient, sender and reply-to
// addresses parse (net/mail), the subject and a body are present, headers
// and unsubscribe targets are valid, the options decode, and the encoded
// message fits SES's 40 MB. It returns a *notify.ValidationError naming the
// field (notify.FieldAddress, "Content" or "Data", "Options.email...").
func (c *Channel) Validate(d *notify.Delivery) error {
	if _, field, err := c.prepare(d); err != nil {
		return &notify.ValidationError{Field: field, Reason: err.Error(), Err: err}
	}
	return nil
}

// Send sends d with SES SendEmail and classifies the outcome:
//
//   - accepted: Result.ProviderID is the SES message ID;
//   - TooManyRequestsException, throttling codes, HTTP 429: notify.Retryable
//     (with Retry-After when the response has one);
//   - HTTP 5xx, and transport failures once the request was written:
//     retryable with MaybeSent (SES may have accepted it);
//   - MessageRejected: notify.Permanent, except "not verified" (the
//     sandbox, or an unverified sender) which is notify.ConfigError;
//   - SendingPaused, AccountSuspended, MailFromDomainNotVerified,
//     NotFound, authentication or authorization failures, and credentials
//     the SDK cannot retrieve: notify.ConfigError;
//   - BadRequest, LimitExceeded and other 4xx: notify.Permanent.
//
// Bounces and complaints arrive later through the configuration set's
// event destination; they are not Send's outcome.
func (c *Channel) Send(ctx context.Context, d *notify.Delivery) (notify.Result, error) {
	p, field, err := c.prepare(d)
	if err != nil {
		return notify.Result{}, notify.Permanent(fmt.Errorf("email: delivery %s: %s: %w", d.ID, field, err))
	}
	if c.creds != nil {
		// The SDK reports missing or unusable credentials as an untyped
		// error; find out first, so that it is a configuration error (the
		// delivery waits for the fix) rather than a failed attempt.
		if _, err := c.creds.Retrieve(ctx); err != nil {
			err = fmt.Errorf("email: delivery %s: retrieve AWS credentials: %w", d.ID, err)
			if ctx.Err() != nil {
				return notify.Result{}, notify.Retryable(err, 0)
			}
			return notify.Result{}, notify.ConfigError(err)
		}
	}
	var wrote atomic.Bool
	ctx = httptrace.WithClientTrace(ctx, &httptrace.ClientTrace{
		WroteRequest: func(httptrace.WroteRequestInfo) { wrote.Store(true) },
	})
	out, err := c.api.SendEmail(ctx, p.in, func(o *sesv2.Options) { o.Retryer = c.retryer })
	if err != nil {
		return notify.Result{}, classify(fmt.Errorf("email: delivery %s: %w", d.ID, err), wrote.Load())
	}
	return notify.Result{ProviderID: aws.ToString(out.MessageId)}, nil
}

// Error codes that name credentials or permissions, whatever the service.
var authCodes = map[string]bool{
	"AccessDenied": true, "AccessDeniedException": true, "UnrecognizedClientException": true,
	"InvalidClientTokenId": true, "SignatureDoesNotMatch": true, "InvalidSignatureException": true,
	"IncompleteSignature": true, "MissingAuthenticationToken": true, "MissingAuthenticationTokenException": true,
	"ExpiredToken": true, "ExpiredTokenException": true, "NotAuthorized": true, "OptInRequired": true,
}

var throttleCodes = map[string]bool{
	"Throttling": true, "ThrottlingException": true, "ThrottledException": true, "RequestThrottled": true,
	"RequestLimitExceeded": true, "TooManyRequestsException": true, "SlowDown": true,
}

// classify turns a failed SendEmail into a notify outcome.
func classify(err error, wrote bool) error {
	status, retryAfter := 0, time.Duration(0)
	var re *awshttp.ResponseError
	if errors.As(err, &re) && re.Response != nil {
		status = re.HTTPStatusCode()
		retryAfter = retryafter.Parse(re.Response.Header.Get("Retry-After"), time.Now())
	}
	var (
		tooMany    *types.TooManyRequestsException
		rejected   *types.MessageRejected
		paused     *types.SendingPausedException
		suspended  *types.AccountSuspendedException
		mailFrom   *types.MailFromDomainNotVerifiedException
		notFound   *types.NotFoundException
		badRequest *types.BadRequestException
		limit      *types.LimitExceededException
		internal   *types.InternalServiceErrorException
	)
	switch {
	case errors.As(err, &tooMany):
		return notify.Retryable(err, retryAfter)
	case errors.As(err, &rejected):
		if strings.Contains(strings.ToLower(rejected.ErrorMessage()), "not verified") {
			return notify.ConfigError(err)
		}
		return notify.Permanent(err)
	case errors.As(err, &paused), errors.As(err, &suspended), errors.As(err, &mailFrom), errors.As(err, &notFound):
		return notify.ConfigError(err)
	case errors.As(err, &badRequest), errors.As(err, &limit):
		return notify.Permanent(err)
	case errors.As(err, &internal):
		return maybeSent(err, retryAfter)
	}
	var ae smithy.APIError
	if errors.As(err, &ae) {
		switch code := ae.ErrorCode(); {
		case throttleCodes[code]:
			return notify.Retryable(err, retryAfter)
		case authCodes[code]:
			return notify.ConfigError(err)
		}
	}
	switch {
	case status == http.StatusTooManyRequests:
		return notify.Retryable(err, retryAfter)
	case status >= 500:
		return maybeSent(err, retryAfter)
	case status == http.StatusUnauthorized, status == http.StatusForbidden, status == http.StatusNotFound:
		return notify.ConfigError(err)
	case status == http.StatusRequestTimeout:
		return notify.Uncertain(err)
	case status >= 400:
		return notify.Permanent(err)
	}
	// No response.
	var op *net.OpError
	if errors.As(err, &op) && op.Op == "dial" {
		return notify.Retryable(err, 0)
	}
	if wrote {
		return notify.Uncertain(err)
	}
	return notify.Retryable(err, 0)
}

func maybeSent(err error, after time.Duration) error {
	return &notify.OutcomeError{Outcome: notify.OutcomeRetry, Err: err, RetryAfter: after, MaybeSent: true}
}
