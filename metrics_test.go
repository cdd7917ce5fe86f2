package notify_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/gonotify/notify"
)

func TestMetrics(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		reader := sdkmetric.NewManualReader()
		h := newHarness(t, func(c *notify.Config) {
			c.MeterProvider = sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
		})
		h.contact(t, ana)
		h.ch["sms"].FailFirst(1, nil)
		h.ch["email"].OnSend(func(*notify.Delivery) (notify.Result, error) {
			return notify.Result{}, notify.Permanent(errors.New("rejected"))
		})
		h.run(t)
		r, err := h.d.Send(t.Context(), welcome("m"))
		require.NoError(t, err)
		h.settle(t, r.NotificationID)

		var rm metricdata.ResourceMetrics
		require.NoError(t, reader.Collect(context.Background(), &rm))
		events := map[[2]string]int64{}
		durations := map[[2]string]uint64{}
		for _, sm := range rm.ScopeMetrics {
			for _, m := range sm.Metrics {
				switch data := m.Data.(type) {
				case metricdata.Sum[int64]:
					require.Equal(t, notify.MetricEvents, m.Name)
					for _, p := range data.DataPoints {
						events[[2]string{attr(p.Attributes, "channel"), attr(p.Attributes, "status")}] += p.Value
					}
				case metricdata.Histogram[float64]:
					require.Equal(t, notify.MetricSendDuration, m.Name)
					for _, p := range data.DataPoints {
						durations[[2]string{attr(p.Attributes, "channel"), attr(p.Attributes, "outcome")}] += p.Count
					}
				}
			}
		}
		assert.Equal(t, map[[2]string]int64{
			{"apns", "queued"}: 1, {"apns", "sent"}: 1,
			{"fcm", "queued"}: 1, {"fcm", "sent"}: 1,
			{"sms", "queued"}: 1, {"sms", "retrying"}: 1, {"sms", "sent"}: 1,
			{"email", "queued"}: 1, {"email", "failed"}: 1,
		}, events)
		assert.Equal(t, map[[2]string]uint64{
			{"apns", "sent"}: 1, {"fcm", "sent"}: 1,
			{"sms", "retry"}: 1, {"sms", "sent"}: 1,
			{"email", "permanent"}: 1,
		}, durations)
	})
}

func attr(s attribute.Set, key string) string {
	v, _ := s.Value(attribute.Key(key))
	return v.AsString()
}

// queueGauges collects the queue gauges: jobs by channel and state, and the
// oldest ready age by channel.
func queueGauges(t *testing.T, reader *sdkmetric.ManualReader) (map[[2]string]int64, map[string]float64) {
	t.Helper()
	var rm metricdata.ResourceMetrics
	require.NoError(t, reader.Collect(context.Background(), &rm))
	jobs, oldest := map[[2]string]int64{}, map[string]float64{}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			switch m.Name {
			case notify.MetricQueueJobs:
				for _, p := range m.Data.(metricdata.Gauge[int64]).DataPoints {
					if p.Value != 0 {
						jobs[[2]string{attr(p.Attributes, "channel"), attr(p.Attributes, "state")}] = p.Value
					}
				}
			case notify.MetricQueueOldestReady:
				for _, p := range m.Data.(metricdata.Gauge[float64]).DataPoints {
					oldest[attr(p.Attributes, "channel")] = p.Value
				}
			}
		}
	}
	return jobs, oldest
}

// The queue gauges report Queue.Stats per channel after known enqueues,
// leases and burials, and a collection within QueueStatsMaxAge of the last
// sample reuses it.
func TestQueueGauges(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		reader := sdkmetric.NewManualReader()
		h := newHarness(t, func(c *notify.Config) {
			c.MeterProvider = sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
			c.QueueStatsMaxAge = time.Minute
		})
		h.contact(t, ana)
		ctx := t.Context()
		_, err := h.d.Send(ctx, welcome("g1"))
		require.NoError(t, err)
		time.Sleep(10 * time.Second)
		ls, err := h.queue.Receive(ctx, h.d.QueueName("sms"), 1)
		require.NoError(t, err)
		require.Len(t, ls, 1)
		ls, err = h.queue.Receive(ctx, h.d.QueueName("email"), 1)
		require.NoError(t, err)
		require.Len(t, ls, 1)
		require.NoError(t, h.queue.Bury(ctx, ls[0], "test"))

		jobs, oldest := queueGauges(t, reader)
		assert.Equal(t, map[[2]string]int64{
			{"apns", "ready"}: 1, {"fcm", "ready"}: 1, {"sms", "in_flight"}: 1, {"email", "dead"}: 1,
		}, jobs)
		assert.Equal(t, map[string]float64{"apns": 10, "fcm": 10, "sms": 0, "email": 0}, oldest)

		stats, err := h.d.Stats(ctx)
		require.NoError(t, err)
		assert.Equal(t, notify.QueueStats{InFlight: 1}, stats["sms"])
		assert.Equal(t, notify.QueueStats{Dead: 1}, stats["email"])
		assert.Len(t, stats, 4)

		// Within QueueStatsMaxAge a collection reuses the sample.
		_, err = h.d.Send(ctx, welcome("g2"))
		require.NoError(t, err)
		time.Sleep(30 * time.Second)
		jobs, _ = queueGauges(t, reader)
		assert.Equal(t, int64(1), jobs[[2]string{"apns", "ready"}], "a collection within QueueStatsMaxAge")
		time.Sleep(31 * time.Second)
		jobs, oldest = queueGauges(t, reader)
		assert.Equal(t, int64(2), jobs[[2]string{"apns", "ready"}], "a collection after QueueStatsMaxAge")
		assert.Equal(t, float64(71), oldest["apns"])
	})
}

// A queue whose Stats fails is left out of Dispatcher.Stats, with its error;
// the others are answered.
func TestStatsPartial(t *testing.T) {
	h := newHarness(t, func(c *notify.Config) {
		c.Queue = failingStats{Queue: c.Queue, channel: "sms"}
	})
	stats, err := h.d.Stats(t.Context())
	require.ErrorContains(t, err, "stats of the sms queue")
	assert.Len(t, stats, 3)
	assert.NotContains(t, stats, "sms")
}

// failingStats fails Stats for one channel's queue.
type failingStats struct {
	notify.Queue
	channel string
}

func (f failingStats) Stats(ctx context.Context, queue string) (notify.QueueStats, error) {
	if strings.HasSuffix(queue, f.channel) {
		return notify.QueueStats{}, errors.New("stats refused")
	}
	return f.Queue.Stats(ctx, queue)
}
