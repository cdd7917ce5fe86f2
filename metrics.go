package notify

import (
	"context"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
)

// Metric names the Dispatcher records through Config.MeterProvider
// (OpenTelemetry). Each carries the attribute "channel"; see the
// descriptions for the others.
const (
	// MetricEvents counts delivery events by "channel" and "status"
	// (queued, sent, retrying, dead, skipped ...): the log as a rate.
	MetricEvents = "notify.delivery.events"
	// MetricSendDuration is the time Channel.Send took, in seconds, by
	// "channel" and "outcome" (sent, retry, permanent, invalid recipient,
	// opted out, configuration error).
	MetricSendDuration = "notify.send.duration"
)

// meterName names the Dispatcher's meter.
const meterName = "github.com/gonotify/notify"

// metrics holds the instruments and, per channel, the attribute sets built
// once so recording allocates nothing.
type metrics struct {
	events   metric.Int64Counter
	duration metric.Float64Histogram
	byStatus map[string]map[Status]metric.AddOption
	byResult map[string][]metric.RecordOption // index: Outcome, then len(outcomeNames) for "sent"
}

// newMetrics returns nil when mp is nil: recording then costs nothing.
func newMetrics(mp metric.MeterProvider, channels []string) (*metrics, error) {
	if mp == nil {
		return nil, nil
	}
	meter := mp.Meter(meterName)
	m := &metrics{byStatus: map[string]map[Status]metric.AddOption{}, byResult: map[string][]metric.RecordOption{}}
	var err error
	if m.events, err = meter.Int64Counter(MetricEvents, metric.WithDescription("Delivery events by channel and status."), metric.WithUnit("{event}")); err != nil {
		return nil, err
	}
	if m.duration, err = meter.Float64Histogram(MetricSendDuration, metric.WithDescription("Time Channel.Send took, by channel and outcome."), metric.WithUnit("s")); err != nil {
		return nil, err
	}
	for _, ch := range channels {
		st := make(map[Status]metric.AddOption, len(allStatuses))
		for _, s := range allStatuses {
			st[s] = metric.WithAttributeSet(attribute.NewSet(attribute.String("channel", ch), attribute.String("status", string(s))))
		}
		m.byStatus[ch] = st
		res := make([]metric.RecordOption, len(outcomeNames)+1)
		for o, name := range outcomeNames {
			res[o] = metric.WithAttributeSet(attribute.NewSet(attribute.String("channel", ch), attribute.String("outcome", name)))
		}
		res[len(outcomeNames)] = metric.WithAttributeSet(attribute.NewSet(attribute.String("channel", ch), attribute.String("outcome", "sent")))
		m.byResult[ch] = res
	}
	return m, nil
}

// event counts ev.
func (m *metrics) event(ctx context.Context, ev *Event) {
	if m == nil {
		return
	}
	if opt, ok := m.byStatus[ev.Channel][ev.Status]; ok {
		m.events.Add(ctx, 1, opt)
	}
}

// sent records how long a send took and how it ended.
func (m *metrics) sent(ctx context.Context, channel string, took time.Duration, err error) {
	if m == nil {
		return
	}
	res := m.byResult[channel]
	if res == nil {
		return
	}
	i := len(outcomeNames)
	if err != nil {
		i = int(Classify(err).Outcome)
		if i < 0 || i >= len(outcomeNames) {
			return
		}
	}
	m.duration.Record(ctx, took.Seconds(), res[i])
}
