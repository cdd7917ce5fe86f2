package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"net/http"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
)

// requestIDHeader carries a request's ID both ways.
const requestIDHeader = "X-Request-ID"

// maxRequestIDLen bounds a client's request ID that is passed through.
const maxRequestIDLen = 128

type requestIDKey struct{}

// requestIDFrom returns the request ID ctx carries, or "".
func requestIDFrom(ctx context.Context) string {
	id, _ := ctx.Value(requestIDKey{}).(string)
	return id
}

// wellFormedRequestID reports whether a client's X-Request-ID may be
// passed through: 1 to 128 ASCII letters, digits and "-_.:", so it cannot
// forge log lines or headers.
func wellFormedRequestID(s string) bool {
	if s == "" || len(s) > maxRequestIDLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '-', c == '_', c == '.', c == ':':
		default:
			return false
		}
	}
	return true
}

// newRequestID returns 16 random bytes in hex.
func newRequestID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // never fails (crypto/rand)
	return hex.EncodeToString(b[:])
}

// withRequestID gives every request an ID: the client's X-Request-ID when
// well formed, else a fresh one. The ID goes into the request's context
// (the logger adds it to every record logged with that context), into
// the request's own header (for the handlers) and into the response.
func withRequestID(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := r.Header.Get(requestIDHeader)
		if !wellFormedRequestID(id) {
			id = newRequestID()
		}
		r.Header.Set(requestIDHeader, id)
		w.Header().Set(requestIDHeader, id)
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), requestIDKey{}, id)))
	})
}

// statusWriter records the status and size of a response.
type statusWriter struct {
	http.ResponseWriter
	status int
	bytes  int64
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	n, err := w.ResponseWriter.Write(b)
	w.bytes += int64(n)
	return n, err
}

// Unwrap lets http.ResponseController reach the connection's writer.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// httpMetrics are the server's own instruments.
type httpMetrics struct {
	requests metric.Int64Counter
	duration metric.Float64Histogram
}

// newHTTPMetrics makes the instruments on mp.
func newHTTPMetrics(mp metric.MeterProvider) (*httpMetrics, error) {
	meter := mp.Meter("github.com/gonotify/notify/cmd/notifyd")
	var m httpMetrics
	var err error
	if m.requests, err = meter.Int64Counter("notifyd.http.requests", metric.WithDescription("HTTP requests served, by method and status code."), metric.WithUnit("{request}")); err != nil {
		return nil, err
	}
	if m.duration, err = meter.Float64Histogram("notifyd.http.duration", metric.WithDescription("Time to serve an HTTP request, by method and status code."), metric.WithUnit("s")); err != nil {
		return nil, err
	}
	return &m, nil
}

// accessLog logs every request when it ends, with its request ID, and
// counts it. Paths are logged without their query.
func accessLog(log *slog.Logger, m *httpMetrics, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w}
		next.ServeHTTP(sw, r)
		took := time.Since(start)
		if sw.status == 0 {
			sw.status = http.StatusOK
		}
		attrs := metric.WithAttributes(attribute.String("method", methodLabel(r.Method)), attribute.Int("code", sw.status))
		m.requests.Add(r.Context(), 1, attrs)
		m.duration.Record(r.Context(), took.Seconds(), attrs)
		level := slog.LevelInfo
		if sw.status >= 500 {
			level = slog.LevelWarn
		}
		if r.URL.Path == "/metrics" || r.URL.Path == "/readyz" || r.URL.Path == "/healthz" {
			level = slog.LevelDebug
		}
		log.LogAttrs(r.Context(), level, "http request",
			slog.String("method", r.Method), slog.String("path", r.URL.Path), slog.Int("status", sw.status),
			slog.Int64("bytes", sw.bytes), slog.Duration("took", took), slog.String("remote", r.RemoteAddr))
	})
}

// methodLabel bounds the metric's method label to the standard methods.
func methodLabel(m string) string {
	switch m {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
		http.MethodDelete, http.MethodOptions:
		return m
	}
	return "other"
}

// contextHandler adds the request ID of the record's context to every
// record.
type contextHandler struct{ slog.Handler }

func (h contextHandler) Handle(ctx context.Context, r slog.Record) error {
	if id := requestIDFrom(ctx); id != "" {
		r.AddAttrs(slog.String("request_id", id))
	}
	return h.Handler.Handle(ctx, r)
}

func (h contextHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return contextHandler{h.Handler.WithAttrs(as)}
}

func (h contextHandler) WithGroup(name string) slog.Handler {
	return contextHandler{h.Handler.WithGroup(name)}
}
