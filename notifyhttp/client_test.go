package notifyhttp

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gonotify/notify"
)

// The Client retries a 503 with the same event ID, re-signed (a replayed
// signature would be refused), honouring Retry-After; the retry is answered
// as the original.
func TestClientRetriesSafely(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	require.NoError(t, e.c.PutContact(ctx, notify.Contact{UserID: "ana", Phone: "+15005550006"}))
	var calls atomic.Int32
	flaky := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := calls.Add(1)
		rec := httptest.NewRecorder()
		e.srv.Config.Handler.ServeHTTP(rec, r)
		if n == 1 { // accepted, but the answer is lost: the client sees a 503
			writeProblem(w, unavailable())
			return
		}
		for k, v := range rec.Header() {
			w.Header()[k] = v
		}
		w.WriteHeader(rec.Code)
		_, _ = w.Write(rec.Body.Bytes())
	}))
	defer flaky.Close()
	c, err := NewClient(ClientConfig{BaseURL: flaky.URL, KeyID: e.admin.ID, Secret: e.secret, MinBackoff: time.Millisecond, MaxBackoff: 2 * time.Millisecond})
	require.NoError(t, err)
	start := time.Now()
	r, err := c.Send(ctx, notify.Notification{UserID: "ana", Content: &notify.Message{Body: "hi"}})
	require.NoError(t, err)
	assert.GreaterOrEqual(t, time.Since(start), 900*time.Millisecond, "Retry-After: 1 honoured")
	assert.EqualValues(t, 2, calls.Load())
	assert.True(t, r.Duplicate, "the retry found the first try's notification")
	assert.NotEmpty(t, r.EventID)
	assert.Equal(t, 1, e.stored(t), "sent once")

	// Retries are bounded, and a context that ends stops them.
	down := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		p := unavailable()
		p.RetryAfter = 0
		writeProblem(w, p)
	}))
	defer down.Close()
	calls.Store(0)
	c, err = NewClient(ClientConfig{BaseURL: down.URL, KeyID: e.admin.ID, Secret: e.secret, MaxRetries: 2, MinBackoff: time.Millisecond, MaxBackoff: 2 * time.Millisecond})
	require.NoError(t, err)
	_, err = c.Contact(ctx, "ana")
	assert.ErrorIs(t, err, ErrUnavailable)
	assert.EqualValues(t, 3, calls.Load(), "one try and two retries")
	calls.Store(0)
	c, err = NewClient(ClientConfig{BaseURL: down.URL, KeyID: e.admin.ID, Secret: e.secret, MaxRetries: 100, MinBackoff: 50 * time.Millisecond})
	require.NoError(t, err)
	cctx, cancel := context.WithTimeout(ctx, 120*time.Millisecond)
	defer cancel()
	_, err = c.Contact(cctx, "ana")
	assert.ErrorIs(t, err, ErrUnavailable)
	assert.Less(t, calls.Load(), int32(10))
	// A 4xx is not retried.
	calls.Store(0)
	bad, err := NewClient(ClientConfig{BaseURL: e.srv.URL, KeyID: e.admin.ID, Secret: "wrong"})
	require.NoError(t, err)
	_, err = bad.Contact(ctx, "ana")
	assert.ErrorIs(t, err, ErrUnauthorized)
}
