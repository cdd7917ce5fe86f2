package fcm

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"time"

	firebase "firebase.google.com/go/v4"
	"firebase.google.com/go/v4/messaging"
	"github.com/gonotify/notify"
	"golang.org/x/oauth2"
	"google.golang.org/api/option"
)

// MaxBatch is the most messages one SendEach takes; SendBatch splits larger batches.
const MaxBatch = 500

// Config configures a Channel. Credentials: CredentialsFile or
// CredentialsJSON (a service-account key), or TokenSource; with none of
// them, Application Default Credentials (GOOGLE_APPLICATION_CREDENTIALS,
// the metadata server). Zero values mean the defaults noted.
type Config struct {
	// ProjectID is the Firebase project. When empty it is read from the
	// credentials or the GOOGLE_CLOUD_PROJECT variable.
	ProjectID string

	CredentialsFile string
	CredentialsJSON []byte
	TokenSource     oauth2.TokenSource

	// Endpoint overrides the FCM v1 endpoint ("https://fcm.googleapis.com/v1"),
	// for a local test server or a proxy.
	Endpoint string
	// ClientOptions are passed to firebase.NewApp after the ones above.
	ClientOptions []option.ClientOption
	// Client, when set, is used as is and every field above is ignored.
	Client *messaging.Client

	// Name is the channel's name and the Device.Platform it serves.
	// Default "fcm" (notify.ChannelFCM).
	Name string
	// MinQuotaDelay is the least a delivery waits after QUOTA_EXCEEDED,
	// whatever Retry-After says. Default 60s, as FCM asks.
	MinQuotaDelay time.Duration
	// Logger receives the channel's warnings (a batch SendEach refused as
	// a whole). Default slog.Default().
	Logger *slog.Logger
}

// Channel sends deliveries to FCM. It implements notify.Channel,
// notify.Validator and notify.BatchSender, and is safe for concurrent use:
// build one per project and share it.
type Channel struct {
	name   string
	client *messaging.Client
	// offline runs the SDK's message validation without the network: its
	// transport answers every request itself.
	offline *messaging.Client
	cfg     Config
	log     *slog.Logger
}

var (
	_ notify.Channel     = (*Channel)(nil)
	_ notify.Validator   = (*Channel)(nil)
	_ notify.BatchSender = (*Channel)(nil)
)

// New returns a Channel for cfg. It reads the credentials but does not
// call FCM.
func New(ctx context.Context, cfg Config) (*Channel, error) {
	if cfg.Name == "" {
		cfg.Name = notify.ChannelFCM
	}
	if cfg.MinQuotaDelay <= 0 {
		cfg.MinQuotaDelay = time.Minute
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	client := cfg.Client
	if client == nil {
		var opts []option.ClientOption
		switch {
		case len(cfg.CredentialsJSON) > 0:
			opts = append(opts, option.WithCredentialsJSON(cfg.CredentialsJSON))
		case cfg.CredentialsFile != "":
			opts = append(opts, option.WithCredentialsFile(cfg.CredentialsFile))
		case cfg.TokenSource != nil:
			opts = append(opts, option.WithTokenSource(cfg.TokenSource))
		}
		if cfg.Endpoint != "" {
			opts = append(opts, option.WithEndpoint(cfg.Endpoint))
		}
		opts = append(opts, cfg.ClientOptions...)
		app, err := firebase.NewApp(ctx, &firebase.Config{ProjectID: cfg.ProjectID}, opts...)
		if err != nil {
			return nil, fmt.Errorf("fcm: create Firebase app: %w (check fcm.Config credentials)", err)
		}
		if client, err = app.Messaging(ctx); err != nil {
			return nil, fmt.Errorf("fcm: create messaging client: %w (set fcm.Config.ProjectID, or use credentials that name the project)", err)
		}
	}
	offline, err := newOfflineClient(ctx)
	if err != nil {
		return nil, err
	}
	return &Channel{name: cfg.Name, client: client, offline: offline, cfg: cfg, log: cfg.Logger}, nil
}

// newOfflineClient returns a messaging client whose HTTP transport answers
// every request with a canned success, so SendDryRun runs the SDK's own
// validation and nothing else.
func newOfflineClient(ctx context.Context) (*messaging.Client, error) {
	app, err := firebase.NewApp(ctx, &firebase.Config{ProjectID: "offline-validation"},
		option.WithHTTPClient(&http.Client{Transport: offlineTransport{}}),
		option.WithEndpoint("http://offline.invalid/v1"))
	if err != nil {
		return nil, fmt.Errorf("fcm: create validation client: %w", err)
	}
	c, err := app.Messaging(ctx)
	if err != nil {
		return nil, fmt.Errorf("fcm: create validation client: %w", err)
	}
	return c, nil
}

type offlineTransport struct{}

var offlineAnswer = []byte(`{"name":"projects/offline-validation/messages/0"}`)

func (offlineTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Body != nil {
		_ = r.Body.Close()
	}
	return &http.Response{
		StatusCode: http.StatusOK, Status: "200 OK", Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header:  http.Header{"Content-Type": {"application/json"}},
		Body:    io.NopCloser(bytes.NewReader(offlineAnswer)),
		Request: r,
	}, nil
}

// Name returns the channel's name, "fcm" unless Config.Name says otherwise.
func (c *Channel) Name() string { return c.name }

// Validate checks d at accept time: its target, its options and the message
// they make, with the SDK's validation and FCM's own limits. It returns a
// *notify.ValidationError naming the offending field.
func (c *Channel) Validate(d *notify.Delivery) error {
	m, err := c.build(d, time.Now())
	if err != nil {
		return err
	}
	return c.sdkValidate(m)
}

func (c *Channel) sdkValidate(m *messaging.Message) error {
	// The offline client never blocks; the context only satisfies the API.
	if _, err := c.offline.SendDryRun(context.Background(), m); err != nil {
		return &notify.ValidationError{Field: "Options.fcm", Reason: "FCM SDK: " + err.Error(), Err: err}
	}
	return nil
}

// Send sends d to FCM and classifies the answer with notify's outcome
// errors. On success the Result's ProviderID is FCM's message name
// ("projects/<p>/messages/<id>").
func (c *Channel) Send(ctx context.Context, d *notify.Delivery) (notify.Result, error) {
	m, err := c.build(d, time.Now())
	if err != nil {
		return notify.Result{}, notify.Permanent(fmt.Errorf("fcm: build message for delivery %s: %w", d.ID, err))
	}
	name, err := c.client.Send(ctx, m)
	if err != nil {
		return notify.Result{}, c.classify(ctx, err, d, m)
	}
	return notify.Result{ProviderID: name}, nil
}

// SendBatch sends ds with SendEach, MaxBatch at a time, and classifies each
// answer on its own: results[i] and errs[i] answer ds[i]. A message the
// SDK's validation rejects fails alone (Permanent) and never holds back the
// rest of its batch.
func (c *Channel) SendBatch(ctx context.Context, ds []*notify.Delivery) ([]notify.Result, []error) {
	results := make([]notify.Result, len(ds))
	errs := make([]error, len(ds))
	msgs := make([]*messaging.Message, 0, min(len(ds), MaxBatch))
	idx := make([]int, 0, cap(msgs))
	built := make([]*messaging.Message, len(ds))
	now := time.Now()
	flush := func() {
		if len(msgs) == 0 {
			return
		}
		br, err := c.client.SendEach(ctx, msgs)
		if err != nil && br == nil {
			// SendEach runs the SDK's validation on every message before
			// sending any and refuses the whole batch for one it rejects:
			// nothing was sent. Validate ran at accept time, so this is
			// rare (the options or the SDK changed since); find the
			// rejected messages and send the rest.
			kept := 0
			for j, m := range msgs {
				i := idx[j]
				if verr := c.sdkValidate(m); verr != nil {
					errs[i] = notify.Permanent(fmt.Errorf("fcm: build message for delivery %s: %w", ds[i].ID, verr))
					continue
				}
				msgs[kept], idx[kept] = m, i
				kept++
			}
			msgs, idx = msgs[:kept], idx[:kept]
			if len(msgs) == 0 {
				return
			}
			br, err = c.client.SendEach(ctx, msgs)
		}
		if err != nil || br == nil || len(br.Responses) != len(msgs) {
			// Refused again, or an answer that does not match the batch:
			// send one by one so each gets its own answer.
			c.log.WarnContext(ctx, "fcm: SendEach refused the batch; sending one by one",
				slog.Int("messages", len(msgs)), slog.Any("error", err))
			for _, i := range idx {
				results[i], errs[i] = c.sendBuilt(ctx, ds[i], built[i])
			}
		} else {
			for j, r := range br.Responses {
				i := idx[j]
				if r.Success {
					results[i] = notify.Result{ProviderID: r.MessageID}
				} else {
					errs[i] = c.classify(ctx, r.Error, ds[i], built[i])
				}
			}
		}
		msgs, idx = msgs[:0], idx[:0]
	}
	for i, d := range ds {
		m, err := c.build(d, now)
		if err != nil {
			errs[i] = notify.Permanent(fmt.Errorf("fcm: build message for delivery %s: %w", d.ID, err))
			continue
		}
		built[i] = m
		msgs = append(msgs, m)
		idx = append(idx, i)
		if len(msgs) == MaxBatch {
			flush()
		}
	}
	flush()
	return results, errs
}

func (c *Channel) sendBuilt(ctx context.Context, d *notify.Delivery, m *messaging.Message) (notify.Result, error) {
	name, err := c.client.Send(ctx, m)
	if err != nil {
		return notify.Result{}, c.classify(ctx, err, d, m)
	}
	return notify.Result{ProviderID: name}, nil
}
