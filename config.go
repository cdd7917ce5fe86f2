package notify

import (
	"log/slog"
	"time"

	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"
)

// Config configures a Dispatcher. Zero values mean the documented defaults.
type Config struct {
	// Queue carries deliveries from Send to Run. Required.
	Queue Queue
	// Store holds contacts, preferences and the notification log. Required.
	Store Store
	// Deduper claims event IDs. Nil disables de-duplication.
	Deduper Deduper
	// Limiter enforces each category's Limit per user, and UserLimit. Nil
	// disables rate limits.
	Limiter Limiter
	// Renderer renders templates. Required when notifications name a Template.
	Renderer Renderer
	// Channels are the providers; each name must be unique. At least one.
	Channels []Channel

	// Workers is the number of concurrent sends per channel name; channels
	// not listed get DefaultWorkers (default 8). Run holds at most
	// Workers + min(Workers, ReceiveBatch) leases of a channel's queue:
	// one per worker, and the rest leased ahead, waiting for a worker to
	// free up (see Dispatcher.Run).
	Workers        map[string]int
	DefaultWorkers int
	// ReceiveBatch is how many jobs a channel's fetcher leases at once, at
	// most. Default 32. Together with Workers it bounds the leases that
	// wait for a free worker (see Workers).
	ReceiveBatch int
	// QueuePrefix is prepended to a channel's name to name its queue.
	// Default "notify.".
	QueuePrefix string

	// Categories holds each category's policy; others get DefaultCategory.
	Categories    map[string]CategoryPolicy
	DefaultPolicy CategoryPolicy
	// UserLimit is a per-user rate limit across every category; zero means
	// none. Like a category's Limit it counts a notification once, however
	// many deliveries it has, and a delivery is sent only when both allow
	// it. Critical notifications are counted against it but never deferred
	// or dropped by it (nor by a Limiter that fails on it). It needs a
	// Limiter.
	UserLimit Limit
	// UserOverLimit says what happens to a delivery over UserLimit: the
	// default OverLimitDefer, or OverLimitDrop (recorded as skipped with
	// ReasonUserLimit).
	UserOverLimit OverLimit
	// DefaultTimeZone is the time zone of the quiet hours of users whose
	// Contact.TimeZone is empty or unknown to this machine (and of
	// deliveries to addresses with no user). Default time.UTC.
	DefaultTimeZone *time.Location

	Retry RetryPolicy
	// DedupTTL is how long an event ID stays claimed. Default 24h.
	DedupTTL time.Duration
	// SendTimeout bounds one attempt: the context of Channel.Send (or
	// SendBatch) ends after it. An attempt also ends before its lease
	// does, with a reserve left to log the outcome (the smaller of
	// BackendTimeout and a quarter of the lease), unless the Queue
	// implements LeaseExtender: leases of a send that runs long are then
	// extended. New rejects a Queue that reports its visibility
	// (VisibilityReporter), cannot extend leases and has a visibility
	// shorter than SendTimeout plus that reserve. A call that has not
	// returned SendTimeout plus at most 1s after it began is abandoned
	// (see Dispatcher.Run). Default 30s.
	SendTimeout time.Duration
	// ConfigErrorDelay is how long a delivery that met a configuration error
	// waits before it is tried again. Default 5m.
	ConfigErrorDelay time.Duration
	// ShutdownGrace is how long Run waits for in-flight sends after its
	// context ends; sends still running then are canceled and their jobs
	// returned to the queue. Default 10s.
	ShutdownGrace time.Duration
	// PruneEvery is how often Run calls Prune on the Store, Deduper and
	// Queue that implement [Pruner] (the PostgreSQL ones do: old log
	// events, expired claims). The first call comes at a random point in
	// the first period, so many processes do not prune at once. Default
	// 1h; negative: never (the host prunes itself).
	PruneEvery time.Duration
	// BackendTimeout bounds every single call the Dispatcher makes to a
	// backend (Queue, Store, Limiter, Deduper), on both sides of the
	// pipeline, so a backend that stops answering costs a bounded time
	// rather than a hung Send or worker. Default 5s.
	BackendTimeout time.Duration
	// MaxMessageBytes bounds a rendered message's content (every field
	// together) at accept time; channels check their providers' own limits
	// with Validator. Default 1 MiB.
	MaxMessageBytes int

	// Limits on one Notification, checked by Send before anything else
	// happens; a Notification over one is a *ValidationError naming the
	// field. They keep the work and the storage one Send may cost bounded
	// (Data, Options and Metadata are stored with every delivery). Besides
	// these, Notification.Channels may list at most 64 names.

	// MaxRecipients bounds len(Notification.To). Default 1,000.
	MaxRecipients int
	// MaxDataBytes bounds the size of Notification.Data encoded as JSON,
	// and separately that of Notification.Options (all channels together).
	// The size is estimated while the values are checked, without encoding
	// them: escapes inside strings are not counted. Default 64 KiB.
	MaxDataBytes int
	// MaxMetadataBytes bounds Notification.Metadata: the lengths of its
	// keys and values added up. Default 16 KiB.
	MaxMetadataBytes int
	// MaxMetadataKeys bounds the number of keys in Notification.Metadata.
	// Default 64.
	MaxMetadataKeys int

	// Logger receives the Dispatcher's logs. Default slog.Default().
	Logger *slog.Logger
	// MeterProvider receives the Dispatcher's OpenTelemetry metrics
	// (MetricEvents, MetricSendDuration, and the queue gauges
	// MetricQueueJobs and MetricQueueOldestReady). Nil records none.
	MeterProvider metric.MeterProvider
	// QueueStatsMaxAge is how long a sample of the queues' Stats answers
	// the queue gauges: collections within it reuse the sample, so however
	// often (and by however many readers) the meter is collected, each
	// process makes at most one Stats call per queue per QueueStatsMaxAge.
	// Default 15s.
	QueueStatsMaxAge time.Duration
	// TracerProvider receives the Dispatcher's OpenTelemetry spans
	// (SpanSend, SpanDeliver); each delivery carries its Send's trace
	// context through the queue in Delivery.Trace. Nil records none.
	TracerProvider trace.TracerProvider
}

// CategoryPolicy is how one category of notifications is treated.
type CategoryPolicy struct {
	// Limit is the per-user rate limit for the category; zero means none.
	// It counts notifications: one sent to a user's three devices, email
	// and phone spends one event of the limit, checked by each delivery's
	// first attempt under the notification's ID (see LimitRequest.ID).
	Limit Limit
	// OverLimit says what happens to a delivery over the limit.
	OverLimit OverLimit
	// OptIn makes the category opt-in (marketing under consent rules):
	// nothing of it is sent to a user on a channel until the user
	// explicitly allows the category there (SetPreference with the
	// category, on the channel or AllChannels; an allow of AllCategories
	// is not consent). Deliveries without it are skipped
	// (ReasonNotOptedIn), at accept time and again at delivery time.
	// Send refuses a notification of an opt-in category that names no
	// user, or is Critical. Default false: everything is allowed until
	// the user opts out.
	OptIn bool
	// QuietHours is the category's daily window, by each user's wall clock
	// (Contact.TimeZone), during which its deliveries that are not
	// Critical wait for the window's end, for users whose contact sets no
	// QuietHours of its own. Zero: none.
	QuietHours QuietHours
}

// OverLimit is what happens to a delivery over its rate limit.
type OverLimit int

const (
	// OverLimitDefer queues it again until the limiter allows it. It is not counted
	// as an attempt. The default.
	OverLimitDefer OverLimit = iota
	// OverLimitDrop records it as skipped (rate_limited) and sends nothing.
	OverLimitDrop
)

func (c Config) withDefaults() Config {
	if c.DefaultWorkers <= 0 {
		c.DefaultWorkers = 8
	}
	if c.ReceiveBatch <= 0 {
		c.ReceiveBatch = 32
	}
	if c.QueuePrefix == "" {
		c.QueuePrefix = "notify."
	}
	if c.DedupTTL <= 0 {
		c.DedupTTL = 24 * time.Hour
	}
	if c.SendTimeout <= 0 {
		c.SendTimeout = 30 * time.Second
	}
	if c.ConfigErrorDelay <= 0 {
		c.ConfigErrorDelay = 5 * time.Minute
	}
	if c.ShutdownGrace <= 0 {
		c.ShutdownGrace = 10 * time.Second
	}
	if c.PruneEvery == 0 {
		c.PruneEvery = time.Hour
	}
	if c.QueueStatsMaxAge <= 0 {
		c.QueueStatsMaxAge = 15 * time.Second
	}
	if c.BackendTimeout <= 0 {
		c.BackendTimeout = 5 * time.Second
	}
	if c.MaxMessageBytes <= 0 {
		c.MaxMessageBytes = 1 << 20
	}
	if c.MaxRecipients <= 0 {
		c.MaxRecipients = 1000
	}
	if c.MaxDataBytes <= 0 {
		c.MaxDataBytes = 64 << 10
	}
	if c.MaxMetadataBytes <= 0 {
		c.MaxMetadataBytes = 16 << 10
	}
	if c.MaxMetadataKeys <= 0 {
		c.MaxMetadataKeys = 64
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.DefaultTimeZone == nil {
		c.DefaultTimeZone = time.UTC
	}
	c.Retry = c.Retry.withDefaults()
	return c
}
