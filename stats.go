package notify

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
)

// Queue gauges the Dispatcher reports through Config.MeterProvider, sampled
// from Queue.Stats when the meter collects.
const (
	// MetricQueueJobs is the number of jobs in each channel's queue, by
	// "channel" and "state": ready, delayed, in_flight, dead.
	MetricQueueJobs = "notify.queue.jobs"
	// MetricQueueOldestReady is the age in seconds of the oldest ready job
	// of each channel's queue, by "channel". It is 0 when nothing is ready
	// and when the backend cannot know it: SQS reports no age.
	MetricQueueOldestReady = "notify.queue.oldest_ready_age"
)

// Stats returns every channel's queue statistics, keyed by channel name: one
// Queue.Stats call per channel, made concurrently, each bounded by
// Config.BackendTimeout. A channel whose call failed is left out of the map
// and its error is joined into the returned error, so a caller gets what
// could be read.
func (d *Dispatcher) Stats(ctx context.Context) (map[string]QueueStats, error) {
	type answer struct {
		channel string
		stats   QueueStats
		err     error
	}
	answers := make([]answer, len(d.names))
	var wg sync.WaitGroup
	for i, name := range d.names {
		wg.Go(func() {
			cctx, cancel := context.WithTimeout(ctx, d.cfg.BackendTimeout)
			defer cancel()
			st, err := d.cfg.Queue.Stats(cctx, d.channels[name].queue)
			if err != nil {
				err = fmt.Errorf("notify: stats of the %s queue: %w", name, err)
			}
			answers[i] = answer{name, st, err}
		})
	}
	wg.Wait()
	out := make(map[string]QueueStats, len(answers))
	var errs []error
	for _, a := range answers {
		if a.err != nil {
			errs = append(errs, a.err)
			continue
		}
		out[a.channel] = a.stats
	}
	return out, errors.Join(errs...)
}

// queueGauges samples Dispatcher.Stats for the queue gauges. Every
// collection in MaxAge of the last sample reuses it, and concurrent
// collections share one sample, so a meter collected often (or by several
// readers) costs at most one Stats call per queue per MaxAge.
type queueGauges struct {
	stats  func(context.Context) (map[string]QueueStats, error)
	maxAge time.Duration
	now    func() time.Time

	mu     sync.Mutex
	at     time.Time
	sample map[string]QueueStats

	jobs   metric.Int64ObservableGauge
	oldest metric.Float64ObservableGauge
	// attrs holds each channel's attribute sets, built once.
	attrs map[string]queueAttrs
}

type queueAttrs struct {
	ready, delayed, inFlight, dead, channel metric.ObserveOption
}

// registerQueueGauges adds the queue gauges to meter.
func registerQueueGauges(meter metric.Meter, channels []string, maxAge time.Duration, stats func(context.Context) (map[string]QueueStats, error)) (*queueGauges, error) {
	g := &queueGauges{stats: stats, maxAge: maxAge, now: time.Now, attrs: make(map[string]queueAttrs, len(channels))}
	for _, ch := range channels {
		state := func(s string) metric.ObserveOption {
			return metric.WithAttributeSet(attribute.NewSet(attribute.String("channel", ch), attribute.String("state", s)))
		}
		g.attrs[ch] = queueAttrs{
			ready: state("ready"), delayed: state("delayed"), inFlight: state("in_flight"), dead: state("dead"),
			channel: metric.WithAttributeSet(attribute.NewSet(attribute.String("channel", ch))),
		}
	}
	var err error
	if g.jobs, err = meter.Int64ObservableGauge(MetricQueueJobs, metric.WithDescription("Jobs in each channel's queue, by state."), metric.WithUnit("{job}")); err != nil {
		return nil, err
	}
	if g.oldest, err = meter.Float64ObservableGauge(MetricQueueOldestReady, metric.WithDescription("Age of the oldest ready job in each channel's queue (0: none ready, or the backend cannot know)."), metric.WithUnit("s")); err != nil {
		return nil, err
	}
	if _, err = meter.RegisterCallback(g.observe, g.jobs, g.oldest); err != nil {
		return nil, err
	}
	return g, nil
}

// observe reports the latest sample; a queue whose Stats failed reports
// nothing this time rather than a made-up zero.
func (g *queueGauges) observe(ctx context.Context, o metric.Observer) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.sample == nil || g.now().Sub(g.at) >= g.maxAge {
		// Errors are not returned: the SDK would log them on every
		// collection, and the Dispatcher's own logs say more.
		g.sample, _ = g.stats(ctx)
		g.at = g.now()
	}
	for ch, st := range g.sample {
		a, ok := g.attrs[ch]
		if !ok {
			continue
		}
		o.ObserveInt64(g.jobs, int64(st.Ready), a.ready)
		o.ObserveInt64(g.jobs, int64(st.Delayed), a.delayed)
		o.ObserveInt64(g.jobs, int64(st.InFlight), a.inFlight)
		o.ObserveInt64(g.jobs, int64(st.Dead), a.dead)
		o.ObserveFloat64(g.oldest, st.OldestReady.Seconds(), a.channel)
	}
	return nil
}
