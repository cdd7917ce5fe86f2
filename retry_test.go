package notify

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

func TestBackoffFullJitterBounds(t *testing.T) {
	p := RetryPolicy{BaseDelay: time.Second, MaxDelay: 10 * time.Second}
	for attempt, ceil := range map[int]time.Duration{1: time.Second, 2: 2 * time.Second, 3: 4 * time.Second, 4: 8 * time.Second, 5: 10 * time.Second, 60: 10 * time.Second} {
		var maxSeen time.Duration
		for range 2000 {
			d := p.Backoff(attempt, 0)
			assert.GreaterOrEqual(t, d, time.Duration(0))
			assert.LessOrEqual(t, d, ceil, "attempt %d", attempt)
			maxSeen = max(maxSeen, d)
		}
		// Full jitter spreads over the whole range, not a fixed delay.
		assert.Greater(t, maxSeen, ceil/2, "attempt %d never came near its ceiling", attempt)
	}
}

func TestBackoffHonoursRetryAfter(t *testing.T) {
	p := RetryPolicy{BaseDelay: time.Millisecond, MaxDelay: time.Millisecond}
	for range 100 {
		assert.Equal(t, time.Minute, p.Backoff(1, time.Minute))
	}
}

func TestGiveUp(t *testing.T) {
	p := RetryPolicy{MaxAttempts: 3, MaxAge: time.Hour}
	now := time.Now()
	assert.False(t, p.GiveUp(1, now, now))
	assert.False(t, p.GiveUp(2, now, now.Add(59*time.Minute)))
	assert.True(t, p.GiveUp(3, now, now), "the last attempt failed")
	assert.True(t, p.GiveUp(1, now, now.Add(61*time.Minute)), "the retry would come after MaxAge")
}

func TestDeliveryStateApply(t *testing.T) {
	var s DeliveryState
	for _, st := range []Status{StatusQueued, StatusDeferred, StatusRetrying, StatusConfig, StatusRetrying} {
		s.Apply(Event{Status: st})
	}
	assert.Equal(t, 2, s.Attempts, "deferrals and configuration errors are not attempts")
	s.Apply(Event{Status: StatusDead})
	assert.Equal(t, 3, s.Attempts)
	assert.True(t, s.Status.Final())
	s.Apply(Event{Status: StatusReplayed})
	assert.Equal(t, 0, s.Attempts)
	assert.False(t, s.Status.Final())
	s.Apply(Event{Status: StatusSent})
	s.Apply(Event{Status: StatusOpened})
	assert.Equal(t, StatusSent, s.Status, "tracking events do not change the status")
}
