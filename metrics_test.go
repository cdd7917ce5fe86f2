package notify_test

import (
	"context"
	"errors"
	"testing"
	"testing/synctest"

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
