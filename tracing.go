package notify

import (
	"context"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
)

// Span names the Dispatcher records through Config.TracerProvider
// (OpenTelemetry).
const (
	// SpanSend covers one Send, SendTx or SendBatch: validation, dedup,
	// contacts, log and queue writes. It is a child of the span in the
	// caller's context.
	SpanSend = "notify.send"
	// SpanDeliver covers one attempt to send one delivery (Channel.Send, or
	// its part of a SendBatch) and what the Dispatcher did with the answer.
	// It is a child of the SpanSend that queued the delivery, whichever
	// process runs it: the trace context travels in Delivery.Trace.
	SpanDeliver = "notify.deliver"
)

// tracing holds the Dispatcher's tracer; a nil *tracing records nothing
// and costs nothing.
type tracing struct {
	tracer trace.Tracer
	prop   propagation.TraceContext
}

func newTracing(tp trace.TracerProvider) *tracing {
	if tp == nil {
		return nil
	}
	return &tracing{tracer: tp.Tracer("github.com/gonotify/notify")}
}

// startSend starts a SpanSend for n notifications.
func (t *tracing) startSend(ctx context.Context, notifications int) (context.Context, trace.Span) {
	if t == nil {
		return ctx, nil
	}
	return t.tracer.Start(ctx, SpanSend, trace.WithSpanKind(trace.SpanKindProducer),
		trace.WithAttributes(attribute.Int("notify.notifications", notifications)))
}

// endSend ends span with the receipts Send returns and its error.
func endSend(span trace.Span, receipts []Receipt, err error) {
	if span == nil {
		return
	}
	if len(receipts) == 1 {
		r := receipts[0]
		span.SetAttributes(attribute.String("notify.notification_id", r.NotificationID),
			attribute.String("notify.event_id", r.EventID), attribute.Bool("notify.duplicate", r.Duplicate))
	}
	n := 0
	for _, r := range receipts {
		n += len(r.Deliveries)
	}
	span.SetAttributes(attribute.Int("notify.deliveries", n))
	if err != nil {
		span.RecordError(err)
		span.SetStatus(codes.Error, err.Error())
	}
	span.End()
}

// carrier returns the W3C trace context of ctx's span for Delivery.Trace,
// or nil when there is none to carry.
func (t *tracing) carrier(ctx context.Context) map[string]string {
	if t == nil || !trace.SpanContextFromContext(ctx).IsValid() {
		return nil
	}
	c := propagation.MapCarrier{}
	t.prop.Inject(ctx, c)
	return c
}

// startDeliver starts a SpanDeliver for one attempt at del, as a child of
// the span that queued it.
func (t *tracing) startDeliver(ctx context.Context, del *Delivery) (context.Context, trace.Span) {
	if t == nil {
		return ctx, nil
	}
	parent := ctx
	if len(del.Trace) > 0 {
		parent = t.prop.Extract(ctx, propagation.MapCarrier(del.Trace))
	}
	// The span belongs to the queued delivery's trace, but ctx (deadlines,
	// cancellation) stays the worker's.
	_, span := t.tracer.Start(parent, SpanDeliver, trace.WithSpanKind(trace.SpanKindConsumer),
		trace.WithAttributes(
			attribute.String("notify.channel", del.Channel),
			attribute.String("notify.delivery_id", del.ID),
			attribute.String("notify.notification_id", del.NotificationID),
			attribute.String("notify.category", del.Category),
			attribute.Int("notify.attempt", del.Attempt),
		))
	return trace.ContextWithSpan(ctx, span), span
}

// endDeliver ends span with the channel's answer.
func endDeliver(span trace.Span, res Result, err error) {
	if span == nil {
		return
	}
	if err == nil {
		span.SetAttributes(attribute.String("notify.outcome", "sent"))
		if res.ProviderID != "" {
			span.SetAttributes(attribute.String("notify.provider_id", res.ProviderID))
		}
		span.End()
		return
	}
	oe := Classify(err)
	span.SetAttributes(attribute.String("notify.outcome", oe.Outcome.String()), attribute.Bool("notify.maybe_sent", oe.MaybeSent))
	span.RecordError(err)
	span.SetStatus(codes.Error, err.Error())
	span.End()
}
