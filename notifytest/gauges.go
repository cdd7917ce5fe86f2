package notifytest

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/gonotify/notify"
)

// TestQueueGauges checks the Dispatcher's queue gauges (notify.MetricQueueJobs)
// on a backend's Queue, read through a real OpenTelemetry SDK ManualReader:
// after three notifications are sent on a channel, one of them leased and
// another leased and buried, the gauge reports one ready, one in flight
// and one dead job. The Dispatcher it builds uses q and store (the
// backend's Store, or any) and a queue prefix of its own, so q may be
// shared with other tests.
func TestQueueGauges(t *testing.T, q notify.Queue, store notify.Store) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	reader := sdkmetric.NewManualReader()
	prefix := UniqueName(t) + "."
	d, err := notify.New(notify.Config{
		Queue: q, Store: store, Channels: []notify.Channel{NewChannel("gauge")},
		MeterProvider: sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader)), QueuePrefix: prefix,
	})
	require.NoError(t, err)
	for _, ev := range []string{"a", "b", "c"} {
		_, err := d.Send(ctx, notify.Notification{
			EventID: prefix + ev, To: []notify.Address{{Channel: "gauge", Value: "addr-" + ev}},
			Content: &notify.Message{Body: "gauge " + ev},
		})
		require.NoError(t, err)
	}
	queue := d.QueueName("gauge")
	leased := receiveN(t, q, queue, 2, 10*time.Second)
	require.NoError(t, q.Bury(ctx, leased[1], "gauge test"))

	var rm metricdata.ResourceMetrics
	require.NoError(t, reader.Collect(ctx, &rm))
	jobs := map[string]int64{}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			if m.Name != notify.MetricQueueJobs {
				continue
			}
			for _, p := range m.Data.(metricdata.Gauge[int64]).DataPoints {
				if ch, _ := p.Attributes.Value(attribute.Key("channel")); ch.AsString() == "gauge" {
					st, _ := p.Attributes.Value(attribute.Key("state"))
					jobs[st.AsString()] = p.Value
				}
			}
		}
	}
	assert.Equal(t, map[string]int64{"ready": 1, "delayed": 0, "in_flight": 1, "dead": 1}, jobs, "notify.queue.jobs of channel gauge")
}
