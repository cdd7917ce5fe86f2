package notify

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sort"
	"sync/atomic"
	"time"
)

// Dispatcher is the pipeline: Send on the accept side, Run on the deliver
// side. Build one with New; it is safe for concurrent use, and many
// Dispatchers (in many processes) may share durable backends.
type Dispatcher struct {
	cfg      Config
	log      *slog.Logger
	channels map[string]*channelInfo
	names    []string      // channel names, sorted
	lq       EventLogQueue // the Queue, when it can write the log too
	metrics  *metrics
	tracing  *tracing
	running  atomic.Bool
	// failedSends: Sends that failed ambiguously holding their claim.
	failedSends failedSends
	// sendDeadlines bound the backend calls of Sends whose context can
	// never be canceled.
	sendDeadlines *deadlines
	// sendBounded bounds the calls of Sends whose context carries no
	// values and can never be canceled (see boundedFor).
	sendBounded bounded
	ids         idClock // notification IDs
	// zones caches the time zones of quiet hours.
	zones zoneCache
}

type channelInfo struct {
	ch         Channel
	name       string
	queue      string
	workers    int
	validator  Validator
	normalizer AddressNormalizer
	batcher    BatchSender
}

// New checks cfg and returns a Dispatcher. It starts nothing; call Run to
// deliver.
func New(cfg Config) (*Dispatcher, error) {
	cfg = cfg.withDefaults()
	if cfg.Queue == nil {
		return nil, errors.New("notify: Config.Queue is required (queue/memory for one process)")
	}
	if cfg.Store == nil {
		return nil, errors.New("notify: Config.Store is required (store/memory for one process)")
	}
	if cfg.BackendTimeout > InProgressWindow/4 {
		return nil, fmt.Errorf("notify: Config.BackendTimeout is %s; at most %s (a quarter of InProgressWindow), so a Send still writing is never mistaken for a dead one", cfg.BackendTimeout, InProgressWindow/4)
	}
	if len(cfg.Channels) == 0 {
		return nil, errors.New("notify: Config.Channels is empty: give at least one Channel")
	}
	if err := checkLeaseTiming(&cfg); err != nil {
		return nil, err
	}
	if err := checkQuietHours(&cfg); err != nil {
		return nil, err
	}
	d := &Dispatcher{cfg: cfg, log: cfg.Logger, channels: make(map[string]*channelInfo, len(cfg.Channels))}
	d.sendDeadlines = newDeadlines(context.Background(), cfg.BackendTimeout)
	d.sendBounded = bounded{src: d.sendDeadlines}
	for i, ch := range cfg.Channels {
		if ch == nil {
			return nil, fmt.Errorf("notify: Config.Channels[%d] is nil", i)
		}
		name := ch.Name()
		if name == "" {
			return nil, fmt.Errorf("notify: Config.Channels[%d] has an empty Name", i)
		}
		if name == AllChannels {
			return nil, fmt.Errorf("notify: Config.Channels[%d] is named %q, which is reserved for preferences of every channel (AllChannels)", i, name)
		}
		if _, dup := d.channels[name]; dup {
			return nil, fmt.Errorf("notify: two channels are named %q; channel names must be unique", name)
		}
		ci := &channelInfo{ch: ch, name: name, queue: cfg.QueuePrefix + name, workers: cfg.DefaultWorkers}
		if w := cfg.Workers[name]; w > 0 {
			ci.workers = w
		}
		ci.validator, _ = As[Validator](ch)
		ci.normalizer, _ = As[AddressNormalizer](ch)
		ci.batcher, _ = As[BatchSender](ch)
		d.channels[name] = ci
		d.names = append(d.names, name)
	}
	sort.Strings(d.names)
	d.lq, _ = As[EventLogQueue](cfg.Queue)
	m, err := newMetrics(cfg.MeterProvider, d.names)
	if err != nil {
		return nil, fmt.Errorf("notify: create metrics: %w", err)
	}
	d.metrics = m
	if cfg.MeterProvider != nil {
		if _, err := registerQueueGauges(cfg.MeterProvider.Meter(meterName), d.names, cfg.QueueStatsMaxAge, d.Stats); err != nil {
			return nil, fmt.Errorf("notify: create queue gauges: %w", err)
		}
	}
	d.tracing = newTracing(cfg.TracerProvider)
	d.logCapabilities()
	return d, nil
}

// Channels returns the names of the Dispatcher's channels, sorted. The
// slice is the caller's to keep.
func (d *Dispatcher) Channels() []string { return slices.Clone(d.names) }

// QueueName returns the name of the queue that carries channel's deliveries.
func (d *Dispatcher) QueueName(channel string) string { return d.cfg.QueuePrefix + channel }

func (d *Dispatcher) policy(category string) CategoryPolicy {
	if p, ok := d.cfg.Categories[category]; ok {
		return p
	}
	return d.cfg.DefaultPolicy
}

// Status returns the log of every delivery of a notification, oldest first.
func (d *Dispatcher) Status(ctx context.Context, notificationID string) ([]DeliveryRecord, error) {
	return d.cfg.Store.Deliveries(ctx, notificationID)
}

// Replay queues a dead delivery again with its attempts reset. It returns
// ErrNotFound for an unknown delivery and ErrNotDead for one that is not dead.
func (d *Dispatcher) Replay(ctx context.Context, deliveryID string) error {
	ds, err := d.cfg.Store.Delivery(ctx, deliveryID)
	if err != nil {
		return fmt.Errorf("notify: replay %s: %w", deliveryID, err)
	}
	if ds.Status != StatusDead {
		return fmt.Errorf("notify: replay %s (status %s): %w", deliveryID, ds.Status, ErrNotDead)
	}
	ev := Event{
		DeliveryID: ds.DeliveryID, NotificationID: ds.NotificationID, UserID: ds.UserID,
		Category: ds.Category, Channel: ds.Channel, Address: ds.Address, Template: ds.Template, Locale: ds.Locale,
		Status: StatusReplayed, At: time.Now(),
	}
	// Record first: a job that becomes ready before the log says "replayed"
	// would be taken for a redelivery of a dead one.
	if err := d.cfg.Store.Record(ctx, ev); err != nil {
		return fmt.Errorf("notify: replay %s: record: %w", deliveryID, err)
	}
	if err := d.cfg.Queue.Replay(ctx, d.QueueName(ds.Channel), deliveryID); err != nil {
		if errors.Is(err, ErrNotFound) {
			// A concurrent Replay won: the job is live again, and the log
			// must not say dead.
			return fmt.Errorf("notify: replay %s: the queue holds no dead job by that ID (replayed concurrently?): %w", deliveryID, ErrNotDead)
		}
		// The job is still dead in the queue: say so in the log too.
		ev.Status, ev.Reason, ev.At = StatusDead, "replay failed: "+err.Error(), time.Now()
		_ = d.cfg.Store.Record(context.WithoutCancel(ctx), ev)
		return fmt.Errorf("notify: replay %s: %w", deliveryID, err)
	}
	return nil
}
