package notify

import (
	"math/rand/v2"
	"time"
)

// RetryPolicy decides how long to wait before retrying a failed send and
// when to give up. Zero fields take the defaults noted.
type RetryPolicy struct {
	// MaxAttempts is the number of provider calls after which a retryable
	// failure makes the delivery dead. Default 8.
	MaxAttempts int
	// MaxAge makes a delivery dead when it is retried this long after it was
	// queued. Default 24h.
	MaxAge time.Duration
	// BaseDelay is the backoff cap for the first retry; it doubles per
	// attempt up to MaxDelay. Defaults 1s and 1h.
	BaseDelay time.Duration
	MaxDelay  time.Duration
}

func (p RetryPolicy) withDefaults() RetryPolicy {
	if p.MaxAttempts <= 0 {
		p.MaxAttempts = 8
	}
	if p.MaxAge <= 0 {
		p.MaxAge = 24 * time.Hour
	}
	if p.BaseDelay <= 0 {
		p.BaseDelay = time.Second
	}
	if p.MaxDelay <= 0 {
		p.MaxDelay = time.Hour
	}
	if p.MaxDelay < p.BaseDelay {
		p.MaxDelay = p.BaseDelay
	}
	return p
}

// Backoff returns the delay before retrying after the given failed attempt
// (1-based): "full jitter", uniformly random in [0, min(MaxDelay,
// BaseDelay*2^(attempt-1))], never less than retryAfter.
func (p RetryPolicy) Backoff(attempt int, retryAfter time.Duration) time.Duration {
	p = p.withDefaults()
	ceil := p.BaseDelay
	for i := 1; i < attempt && ceil < p.MaxDelay; i++ {
		ceil *= 2
	}
	ceil = min(ceil, p.MaxDelay)
	d := time.Duration(rand.Int64N(int64(ceil) + 1))
	return max(d, retryAfter)
}

// GiveUp reports whether a delivery that failed its attempt-th call should
// go dead instead of being retried at retryAt. since is when the delivery
// was queued or last replayed (DeliveryState.Since), from which MaxAge
// counts; a zero since applies no age limit.
func (p RetryPolicy) GiveUp(attempt int, since, retryAt time.Time) bool {
	p = p.withDefaults()
	return attempt >= p.MaxAttempts || (!since.IsZero() && retryAt.Sub(since) > p.MaxAge)
}
