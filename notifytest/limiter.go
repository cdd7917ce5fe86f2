package notifytest

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gonotify/notify"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestLimiter runs the conformance suite for a notify.Limiter. newLimiter
// returns a limiter for one subtest and registers its own cleanup; the
// subtests run in parallel on keys of their own.
//
// The semantics are GCRA: under Limit{Rate, Per, Burst}, Burst events (Rate
// when Burst is 0) are allowed at once, then one every Per/Rate; a denied
// event is not counted; RetryAfter is the time until the next event would be
// allowed; Remaining is how many more would be allowed now. The suite
// checks exactly that, that keys are independent, that a limiter allows
// again once RetryAfter has passed, and that of many concurrent events on
// one key exactly Burst are allowed.
//
// Events with an ID (notify.LimitRequest.ID) are counted once per key: the
// suite checks that repeats are Allowed without being counted (Remaining
// and RetryAfter show what was counted), also when many ask at once; that
// a denied ID is not remembered, and is counted once allowed; that IDs are
// forgotten once the limit's window has passed; that Force counts over
// the limit and answers Allowed; and that a key remembers the newest IDs
// but not all of any number of forced ones.
//
// When the limiter is a notify.BatchLimiter (found with notify.As, so a
// wrapper with Unwrap is checked too), the suite also checks AllowBatch
// against Allow: the same events get the decisions and errors Allow would
// give each in turn, also for several events of one key within the batch,
// and leave the same counts; with a context already done, the events
// Allow fails fail too and none is counted.
func TestLimiter(t *testing.T, newLimiter func(t *testing.T) notify.Limiter) {
	run := func(name string, f func(t *testing.T, l notify.Limiter, key string)) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			l := newLimiter(t)
			require.NotNil(t, l, "newLimiter returned nil")
			f(t, l, UniqueName(t))
		})
	}
	run("Burst", testLimiterBurst)
	run("BurstDefaultsToRate", testLimiterDefaultBurst)
	run("KeysAreIndependent", testLimiterKeys)
	run("AllowsAgainAfterRetryAfter", testLimiterWait)
	run("Concurrent", testLimiterConcurrent)
	run("IDCountedOnce", testLimiterIDOnce)
	run("IDsPerKey", testLimiterIDKeys)
	run("DeniedIDAsksAgain", testLimiterIDDenied)
	run("IDForgottenAfterWindow", testLimiterIDWindow)
	run("IDConcurrent", testLimiterIDConcurrent)
	run("Force", testLimiterForce)
	run("ForcedIDsBounded", testLimiterIDBound)
	run("AllowBatch", testAllowBatch)
}

// assertRetryAfter checks that RetryAfter is the emission interval less
// the time that passed since the burst began (since), give or take clock
// granularity.
func assertRetryAfter(t *testing.T, d notify.Decision, interval time.Duration, since time.Time) {
	t.Helper()
	assert.LessOrEqual(t, d.RetryAfter, interval, "RetryAfter is at most Per/Rate")
	floor := interval - time.Since(since) - 20*time.Millisecond
	assert.Greater(t, d.RetryAfter, floor, "RetryAfter is Per/Rate less the time since the burst began")
}

func allow(t *testing.T, l notify.Limiter, key string, limit notify.Limit) notify.Decision {
	t.Helper()
	return allowReq(t, l, notify.LimitRequest{Key: key, Limit: limit})
}

func allowReq(t *testing.T, l notify.Limiter, req notify.LimitRequest) notify.Decision {
	t.Helper()
	d, err := l.Allow(timeout(t, 10*time.Second), req)
	require.NoError(t, err, "Allow %+v", req)
	return d
}

func testLimiterBurst(t *testing.T, l notify.Limiter, key string) {
	limit := notify.Limit{Rate: 10, Per: time.Minute, Burst: 5} // one every 6s, bursts of 5
	start := time.Now()
	for i := range 5 {
		d := allow(t, l, key, limit)
		assert.True(t, d.Allowed, "event %d of a burst of 5", i+1)
		assert.Equal(t, 5-i-1, d.Remaining, "Remaining after event %d", i+1)
	}
	d := allow(t, l, key, limit)
	assert.False(t, d.Allowed, "event 6 over a burst of 5")
	assert.Equal(t, 0, d.Remaining, "Remaining when denied")
	assertRetryAfter(t, d, 6*time.Second, start)

	// A denied event is not counted: the wait does not grow.
	again := allow(t, l, key, limit)
	assert.False(t, again.Allowed)
	assert.LessOrEqual(t, again.RetryAfter, d.RetryAfter+5*time.Millisecond, "a denied event was counted: RetryAfter grew")
}

func testLimiterDefaultBurst(t *testing.T, l notify.Limiter, key string) {
	limit := notify.Limit{Rate: 3, Per: time.Hour} // Burst 0 means Rate
	start := time.Now()
	for i := range 3 {
		assert.True(t, allow(t, l, key, limit).Allowed, "event %d of Rate 3 with Burst 0", i+1)
	}
	d := allow(t, l, key, limit)
	assert.False(t, d.Allowed, "event 4 of Rate 3 with Burst 0")
	assertRetryAfter(t, d, 20*time.Minute, start)

	// A burst larger than the rate.
	big := notify.Limit{Rate: 1, Per: time.Hour, Burst: 4}
	start = time.Now()
	for i := range 4 {
		assert.True(t, allow(t, l, key+"-big", big).Allowed, "event %d of Burst 4", i+1)
	}
	d = allow(t, l, key+"-big", big)
	assert.False(t, d.Allowed, "event 5 of Burst 4")
	assertRetryAfter(t, d, time.Hour, start)
}

func testLimiterKeys(t *testing.T, l notify.Limiter, key string) {
	limit := notify.Limit{Rate: 1, Per: time.Hour}
	assert.True(t, allow(t, l, key+"-a", limit).Allowed)
	assert.False(t, allow(t, l, key+"-a", limit).Allowed)
	assert.True(t, allow(t, l, key+"-b", limit).Allowed, "another key's events counted against this one")
	assert.False(t, allow(t, l, key+"-b", limit).Allowed)
}

func testLimiterWait(t *testing.T, l notify.Limiter, key string) {
	limit := notify.Limit{Rate: 2, Per: time.Second} // bursts of 2, then one every 500ms
	start := time.Now()
	assert.True(t, allow(t, l, key, limit).Allowed)
	assert.True(t, allow(t, l, key, limit).Allowed)
	d := allow(t, l, key, limit)
	require.False(t, d.Allowed, "third event within a burst of 2")
	assertRetryAfter(t, d, 500*time.Millisecond, start)

	denied := time.Now()
	time.Sleep(d.RetryAfter + 50*time.Millisecond)
	wait := d.RetryAfter
	d = allow(t, l, key, limit)
	assert.True(t, d.Allowed, "an event after RetryAfter has passed")
	if time.Since(denied) > wait+400*time.Millisecond {
		t.Logf("the machine is too slow to check Remaining: %v passed instead of %v", time.Since(denied), wait)
		return
	}
	assert.Equal(t, 0, d.Remaining, "Remaining after the event that used the emission interval")
	d = allow(t, l, key, limit)
	assert.False(t, d.Allowed, "the next event right after")
	assert.Greater(t, d.RetryAfter, time.Duration(0))
}

func testLimiterConcurrent(t *testing.T, l notify.Limiter, key string) {
	const goroutines = 50
	limit := notify.Limit{Rate: 10, Per: time.Hour, Burst: 10}
	ctx := timeout(t, 20*time.Second)
	var allowed, denied atomic.Int32
	var wg sync.WaitGroup
	start := make(chan struct{})
	for range goroutines {
		wg.Go(func() {
			<-start
			d, err := l.Allow(ctx, notify.LimitRequest{Key: key, Limit: limit})
			if !assert.NoError(t, err) {
				return
			}
			if d.Allowed {
				allowed.Add(1)
			} else {
				denied.Add(1)
			}
		})
	}
	close(start)
	wg.Wait()
	assert.EqualValues(t, 10, allowed.Load(), "events allowed of %d concurrent ones with Burst 10", goroutines)
	assert.EqualValues(t, goroutines-10, denied.Load(), "events denied")
}
