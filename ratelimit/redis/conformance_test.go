package redis_test

import (
	"context"
	"testing"

	"github.com/gonotify/notify"
	"github.com/gonotify/notify/internal/redistest"
	"github.com/gonotify/notify/notifytest"
	ratelimit "github.com/gonotify/notify/ratelimit/redis"
)

// TestLimiter runs the notify.Limiter conformance suite against Redis.
func TestLimiter(t *testing.T) {
	rdb := redistest.Client(t)
	notifytest.TestLimiter(t, func(t *testing.T) notify.Limiter {
		return newLimiter(t, rdb, ratelimit.Config{})
	})
}

// TestLimiterBatch runs the same suite with every Allow made through
// AllowBatch, so the pipelined path keeps the same contract.
func TestLimiterBatch(t *testing.T) {
	rdb := redistest.Client(t)
	notifytest.TestLimiter(t, func(t *testing.T) notify.Limiter {
		return batchLimiter{newLimiter(t, rdb, ratelimit.Config{FailurePolicy: ratelimit.FailClosed})}
	})
}

type batchLimiter struct{ l *ratelimit.Limiter }

func (b batchLimiter) Allow(ctx context.Context, req notify.LimitRequest) (notify.Decision, error) {
	ds, errs := b.l.AllowBatch(ctx, []ratelimit.Request{req})
	if errs != nil {
		return ds[0], errs[0]
	}
	return ds[0], nil
}
