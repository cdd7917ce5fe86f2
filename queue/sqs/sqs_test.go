package sqs_test

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"os"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	awssqs "github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/stretchr/testify/require"

	"github.com/gonotify/notify"
	"github.com/gonotify/notify/internal/testenv"
	"github.com/gonotify/notify/notifytest"
	"github.com/gonotify/notify/queue/sqs"
)

// server returns the address of the SQS server the tests use (fauxqs,
// started by `make test`), or skips.
func server(t testing.TB) string {
	t.Helper()
	return testenv.Need(t, "NOTIFY_TEST_SQS_URL", "An SQS server (fauxqs)")
}

// baseTransport carries the tests' requests. It hands net/http a copy of
// each request body instead of the SDK's own reader: with the SDK's reader,
// now and then under load (once in a few thousand ReceiveMessage calls) the
// transport's write loop closes the connection while the reply is being
// read ("use of closed network connection", aws-sdk-go-v2 issue #1825); the
// SDK retries, and the messages of a lost ReceiveMessage reply stay in
// flight for a visibility timeout, longer than a test waits for them.
// At-least-once delivery holds either way; see the package documentation.
var baseTransport http.RoundTripper = copyBody{http.DefaultTransport}

type copyBody struct{ next http.RoundTripper }

func (c copyBody) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Body != nil && r.Body != http.NoBody {
		b, err := io.ReadAll(r.Body)
		_ = r.Body.Close()
		if err != nil {
			return nil, err
		}
		r = r.Clone(r.Context())
		r.Body = io.NopCloser(bytes.NewReader(b))
		r.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil }
	}
	return c.next.RoundTrip(r)
}

// client returns an SQS client for endpoint that sends its requests through
// rt when it is not nil.
func client(endpoint string, rt http.RoundTripper) *awssqs.Client {
	opts := awssqs.Options{
		BaseEndpoint: aws.String(endpoint),
		Region:       "us-east-1",
		Credentials:  credentials.NewStaticCredentialsProvider("test", "test", ""),
	}
	if rt == nil {
		rt = baseTransport
	}
	opts.HTTPClient = &http.Client{Transport: rt}
	return awssqs.New(opts)
}

// newQueue returns a Queue on the test server, closed with the test.
func newQueue(t testing.TB, cfg sqs.Config) *sqs.Queue {
	t.Helper()
	if cfg.Client == nil {
		cfg.Client = client(server(t), nil)
	}
	cfg.CreateQueues = true
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
		if path := os.Getenv("NOTIFY_SQS_DEBUG"); path != "" {
			f, err := os.OpenFile(path, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
			require.NoError(t, err)
			t.Cleanup(func() { _ = f.Close() })
			cfg.Logger = slog.New(slog.NewTextHandler(f, &slog.HandlerOptions{Level: slog.LevelDebug})).With("test", t.Name())
		}
	}
	q, err := sqs.New(context.Background(), cfg)
	require.NoError(t, err)
	t.Cleanup(func() { _ = q.Close() })
	return q
}

// TestQueue runs the conformance suite on standard queues, which declare
// one limit: a job ID enqueued again in a later call is not dropped (SQS has
// no deduplication there; see the package documentation). TestQueueFIFO runs
// the whole suite.
func TestQueue(t *testing.T) {
	server(t)
	notifytest.TestQueue(t, func(t *testing.T, cfg notifytest.QueueConfig) notify.Queue {
		return newQueue(t, sqs.Config{Visibility: cfg.Visibility})
	}, notifytest.QueueFeatures{NoCrossCallDedup: true})
}

// TestQueueFIFO runs the whole conformance suite on FIFO queues.
func TestQueueFIFO(t *testing.T) {
	server(t)
	notifytest.TestQueue(t, func(t *testing.T, cfg notifytest.QueueConfig) notify.Queue {
		return newQueue(t, sqs.Config{Visibility: cfg.Visibility, FIFO: true})
	})
}

var _ = time.Second
