package redis_test

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/gonotify/notify"
	"github.com/gonotify/notify/internal/redistest"
	ratelimit "github.com/gonotify/notify/ratelimit/redis"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// prompt is how soon after its ctx ends a call must return in these tests:
// "at once", with room for a loaded machine running -race.
const prompt = 700 * time.Millisecond

// TestBlackHoledRedisReturnsWithCtx: with a Redis that never answers, and a
// client that leaves ctx out of its socket reads, Allow and AllowBatch
// return as soon as ctx's deadline (300ms) passes, not after the client's
// timeouts and retries: fail-open allows, fail-closed returns an error
// wrapping context.DeadlineExceeded. A cancellation is an error under
// either policy, as prompt.
func TestBlackHoledRedisReturnsWithCtx(t *testing.T) {
	lim := notify.Limit{Rate: 1, Per: time.Hour}
	const wait = 300 * time.Millisecond
	timed := func(what string, ctx context.Context, call func(ctx context.Context)) {
		t.Helper()
		start := time.Now()
		call(ctx)
		assert.Less(t, time.Since(start), wait+prompt, "%s returned late", what)
	}
	for _, policy := range []ratelimit.FailurePolicy{ratelimit.FailOpen, ratelimit.FailClosed} {
		t.Run(policy.String(), func(t *testing.T) {
			l := newLimiter(t, redistest.BlackHoleClient(t), ratelimit.Config{FailurePolicy: policy, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
			deadline := func() context.Context {
				ctx, cancel := context.WithTimeout(context.Background(), wait)
				t.Cleanup(cancel)
				return ctx
			}
			timed("Allow", deadline(), func(ctx context.Context) {
				d, err := l.Allow(ctx, notify.LimitRequest{Key: "k", Limit: lim})
				if policy == ratelimit.FailOpen {
					assert.NoError(t, err)
					assert.True(t, d.Allowed, "fail-open: Redis did not answer in time")
				} else {
					assert.ErrorIs(t, err, context.DeadlineExceeded)
					assert.False(t, d.Allowed)
				}
			})
			timed("AllowBatch", deadline(), func(ctx context.Context) {
				ds, errs := l.AllowBatch(ctx, []ratelimit.Request{{Key: "a", Limit: lim}, {Key: "b", Limit: lim}, {Key: "c"}})
				assert.True(t, ds[2].Allowed, "a zero limit needs no Redis")
				if policy == ratelimit.FailOpen {
					assert.Nil(t, errs)
					assert.True(t, ds[0].Allowed && ds[1].Allowed)
				} else {
					require.Len(t, errs, 3)
					assert.ErrorIs(t, errs[0], context.DeadlineExceeded)
					assert.ErrorIs(t, errs[1], context.DeadlineExceeded)
					assert.NoError(t, errs[2])
					assert.False(t, ds[0].Allowed || ds[1].Allowed)
				}
			})
			if policy == ratelimit.FailOpen {
				assert.EqualValues(t, 3, l.FailOpens())
			} else {
				assert.Zero(t, l.FailOpens())
			}

			canceled := func() context.Context {
				ctx, cancel := context.WithCancel(context.Background())
				time.AfterFunc(wait, cancel)
				t.Cleanup(cancel)
				return ctx
			}
			opens := l.FailOpens()
			timed("Allow (canceled)", canceled(), func(ctx context.Context) {
				_, err := l.Allow(ctx, notify.LimitRequest{Key: "k", Limit: lim})
				assert.ErrorIs(t, err, context.Canceled)
			})
			timed("AllowBatch (canceled)", canceled(), func(ctx context.Context) {
				_, errs := l.AllowBatch(ctx, []ratelimit.Request{{Key: "a", Limit: lim}})
				require.Len(t, errs, 1)
				assert.ErrorIs(t, errs[0], context.Canceled)
			})
			assert.Equal(t, opens, l.FailOpens(), "a canceled call is not a failure of Redis")
		})
	}
}

// TestBlackHoledRedisFailsOpenInRun runs a Dispatcher whose fail-open
// Limiter's Redis never answers, with Config.BackendTimeout 300ms: every
// notification is delivered, each Allow failing open when its 300ms pass.
func TestBlackHoledRedisFailsOpenInRun(t *testing.T) {
	l := newLimiter(t, redistest.BlackHoleClient(t), ratelimit.Config{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	in := startInstance(t, l, notify.CategoryPolicy{Limit: notify.Limit{Rate: 1, Per: time.Hour}}, 300*time.Millisecond)
	const n = 4
	in.send(t, "user", n)
	wctx, wcancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer wcancel()
	require.NoError(t, in.ch.WaitSent(wctx, n), "fail-open: all delivered though the limiter's Redis never answers")
	assert.GreaterOrEqual(t, l.FailOpens(), int64(n))
	assert.Empty(t, in.ch.Duplicates())
}
