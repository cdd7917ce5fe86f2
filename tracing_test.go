package notify_test

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"testing/synctest"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/gonotify/notify"
)

func spanAttr(s sdktrace.ReadOnlySpan, key string) attribute.Value {
	for _, kv := range s.Attributes() {
		if string(kv.Key) == key {
			return kv.Value
		}
	}
	return attribute.Value{}
}

func spansNamed(sr *tracetest.SpanRecorder, name string) []sdktrace.ReadOnlySpan {
	var out []sdktrace.ReadOnlySpan
	for _, s := range sr.Ended() {
		if s.Name() == name {
			out = append(out, s)
		}
	}
	return out
}

// A delivery's attempts are spans in the trace of the Send that queued it,
// which is itself a child of the caller's span; a failed attempt is marked
// as an error with its outcome.
func TestTracingFollowsDeliveryThroughQueue(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		sr := tracetest.NewSpanRecorder()
		tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(sr))
		h := newHarness(t, func(c *notify.Config) { c.TracerProvider = tp })
		h.contact(t, ana)
		calls := 0
		h.ch["sms"].OnSend(func(*notify.Delivery) (notify.Result, error) {
			if calls++; calls == 1 {
				return notify.Result{}, notify.Retryable(errors.New("503"), 0)
			}
			return notify.Result{ProviderID: "SM1"}, nil
		})
		stop := h.run(t)
		defer stop()

		ctx, parent := tp.Tracer("host").Start(t.Context(), "http POST /signup")
		n := welcome("traced")
		n.Channels = []string{"sms"}
		r, err := h.d.Send(ctx, n)
		require.NoError(t, err)
		parent.End()
		require.Equal(t, notify.StatusSent, h.settle(t, r.NotificationID)[0].Status)
		synctest.Wait()

		sends := spansNamed(sr, notify.SpanSend)
		require.Len(t, sends, 1)
		send := sends[0]
		assert.Equal(t, parent.SpanContext().SpanID(), send.Parent().SpanID(), "Send is a child of the caller's span")
		assert.Equal(t, trace.SpanKindProducer, send.SpanKind())
		assert.Equal(t, r.NotificationID, spanAttr(send, "notify.notification_id").AsString())
		assert.Equal(t, int64(1), spanAttr(send, "notify.deliveries").AsInt64())

		delivers := spansNamed(sr, notify.SpanDeliver)
		require.Len(t, delivers, 2, "one span per attempt")
		for i, s := range delivers {
			assert.Equal(t, send.SpanContext().TraceID(), s.SpanContext().TraceID())
			assert.Equal(t, send.SpanContext().SpanID(), s.Parent().SpanID(), "attempt %d is a child of Send", i+1)
			assert.Equal(t, r.Deliveries[0].ID, spanAttr(s, "notify.delivery_id").AsString())
			assert.Equal(t, int64(i+1), spanAttr(s, "notify.attempt").AsInt64())
		}
		assert.Equal(t, codes.Error, delivers[0].Status().Code)
		assert.Equal(t, "retry", spanAttr(delivers[0], "notify.outcome").AsString())
		assert.Equal(t, codes.Unset, delivers[1].Status().Code)
		assert.Equal(t, "sent", spanAttr(delivers[1], "notify.outcome").AsString())
		assert.Equal(t, "SM1", spanAttr(delivers[1], "notify.provider_id").AsString())
	})
}

// Deliveries sent with SendBatch get one span each, in their own traces.
func TestTracingBatchSendSpanPerDelivery(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		sr := tracetest.NewSpanRecorder()
		tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(sr))
		h := newHarness(t)
		batcher := h.ch["fcm"].Batching()
		cfg := h.cfg
		cfg.Channels, cfg.TracerProvider = []notify.Channel{batcher}, tp
		d, err := notify.New(cfg)
		require.NoError(t, err)
		var ns []notify.Notification
		for i := range 5 {
			ns = append(ns, notify.Notification{To: []notify.Address{{Channel: "fcm", Value: "t" + string(rune('A'+i))}},
				Content: &notify.Message{Title: "hi", Body: "there"}})
		}
		traces := map[trace.TraceID]bool{}
		for _, n := range ns { // one Send each: five traces
			_, err := d.Send(t.Context(), n)
			require.NoError(t, err)
		}
		for _, s := range spansNamed(sr, notify.SpanSend) {
			traces[s.SpanContext().TraceID()] = true
		}
		require.Len(t, traces, 5)
		runBriefly(t, d)
		require.NotEmpty(t, batcher.Batches())
		delivers := spansNamed(sr, notify.SpanDeliver)
		require.Len(t, delivers, 5)
		for _, s := range delivers {
			assert.True(t, traces[s.SpanContext().TraceID()], "each attempt in its Send's trace")
			delete(traces, s.SpanContext().TraceID())
		}
	})
}

// The trace context survives the JSON a durable queue stores.
func TestDeliveryTraceSurvivesJSON(t *testing.T) {
	sr := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(sr))
	h := newHarness(t, func(c *notify.Config) { c.TracerProvider = tp })
	var got *notify.Delivery
	q := &captureQueue{Queue: h.queue, got: &got}
	cfg := h.cfg
	cfg.Queue = q
	d, err := notify.New(cfg)
	require.NoError(t, err)
	_, err = d.Send(t.Context(), notify.Notification{To: []notify.Address{{Channel: "sms", Value: "+15005550006"}}, Content: &notify.Message{Body: "hi"}})
	require.NoError(t, err)
	require.NotNil(t, got)
	b, err := json.Marshal(got)
	require.NoError(t, err)
	var back notify.Delivery
	require.NoError(t, json.Unmarshal(b, &back))
	require.Contains(t, back.Trace, "traceparent")
	send := spansNamed(sr, notify.SpanSend)[0]
	assert.Contains(t, back.Trace["traceparent"], send.SpanContext().TraceID().String())
}

// Without a TracerProvider nothing is carried.
func TestNoTracerProviderCarriesNothing(t *testing.T) {
	sr := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(sr))
	h := newHarness(t)
	var got *notify.Delivery
	cfg := h.cfg
	cfg.Queue = &captureQueue{Queue: h.queue, got: &got}
	d, err := notify.New(cfg)
	require.NoError(t, err)
	ctx, span := tp.Tracer("host").Start(t.Context(), "request")
	defer span.End()
	_, err = d.Send(ctx, notify.Notification{To: []notify.Address{{Channel: "sms", Value: "+15005550006"}}, Content: &notify.Message{Body: "hi"}})
	require.NoError(t, err)
	require.NotNil(t, got)
	assert.Nil(t, got.Trace)
}

// captureQueue is a Queue that keeps the last enqueued delivery.
type captureQueue struct {
	notify.Queue
	got **notify.Delivery
}

func (q *captureQueue) Enqueue(ctx context.Context, jobs ...notify.Job) error {
	if len(jobs) > 0 {
		*q.got = jobs[len(jobs)-1].Delivery
	}
	return q.Queue.Enqueue(ctx, jobs...)
}

// runBriefly runs d until every goroutine of the bubble is idle, then
// stops it.
func runBriefly(t *testing.T, d *notify.Dispatcher) {
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() { _ = d.Run(ctx); close(done) }()
	synctest.Wait()
	cancel()
	<-done
}
