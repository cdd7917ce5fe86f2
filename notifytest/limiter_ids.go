package notifytest

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gonotify/notify"
)

// testLimiterIDOnce is one notification's five deliveries under "3 per
// hour": each asks with the notification's ID, and only the first counts.
func testLimiterIDOnce(t *testing.T, l notify.Limiter, key string) {
	limit := notify.Limit{Rate: 3, Per: time.Hour} // bursts of 3, then one every 20 minutes
	req := func(id string) notify.LimitRequest { return notify.LimitRequest{Key: key, ID: id, Limit: limit} }
	start := time.Now()
	for i := range 5 {
		d := allowReq(t, l, req("n1"))
		assert.True(t, d.Allowed, "delivery %d of notification n1", i+1)
		assert.Equal(t, 2, d.Remaining, "Remaining after delivery %d of n1: the notification counts once", i+1)
	}
	assert.Equal(t, notify.Decision{Allowed: true, Remaining: 1}, allowReq(t, l, req("n2")))
	assert.Equal(t, notify.Decision{Allowed: true, Remaining: 0}, allowReq(t, l, req("n3")))
	assert.Equal(t, notify.Decision{Allowed: true, Remaining: 0}, allowReq(t, l, req("n2")), "n2 again: remembered, not counted")
	d := allowReq(t, l, req("n4"))
	assert.False(t, d.Allowed, "the fourth notification under 3 per hour")
	assertRetryAfter(t, d, 20*time.Minute, start)
	again := allowReq(t, l, req("n4"))
	assert.False(t, again.Allowed, "n4 again: a denied ID is not remembered")
	assert.LessOrEqual(t, again.RetryAfter, d.RetryAfter+5*time.Millisecond, "a denied ID was counted: RetryAfter grew")
	assert.True(t, allowReq(t, l, req("n1")).Allowed, "n1 again, after the limit was spent: remembered")
	// An event without an ID is counted every time, next to IDs.
	assert.False(t, allow(t, l, key, limit).Allowed, "an event without an ID over the limit")
}

// testLimiterIDKeys checks that an ID counted for one key is counted for
// another too: the IDs a key remembers are its own.
func testLimiterIDKeys(t *testing.T, l notify.Limiter, key string) {
	limit := notify.Limit{Rate: 2, Per: time.Hour}
	for _, k := range []string{key + "-a", key + "-b"} {
		assert.Equal(t, notify.Decision{Allowed: true, Remaining: 1}, allowReq(t, l, notify.LimitRequest{Key: k, ID: "n1", Limit: limit}), "n1 on %s", k)
		assert.Equal(t, notify.Decision{Allowed: true, Remaining: 1}, allowReq(t, l, notify.LimitRequest{Key: k, ID: "n1", Limit: limit}), "n1 again on %s", k)
	}
}

// testLimiterIDDenied checks that a denied ID asks again once RetryAfter
// has passed, is counted then, and once only.
func testLimiterIDDenied(t *testing.T, l notify.Limiter, key string) {
	limit := notify.Limit{Rate: 1, Per: 400 * time.Millisecond} // one every 400ms
	req := func(id string) notify.LimitRequest { return notify.LimitRequest{Key: key, ID: id, Limit: limit} }
	require.True(t, allowReq(t, l, req("a")).Allowed)
	d := allowReq(t, l, req("b"))
	require.False(t, d.Allowed, "b within a's interval")
	time.Sleep(d.RetryAfter + 30*time.Millisecond)
	require.True(t, allowReq(t, l, req("b")).Allowed, "b after RetryAfter")
	counted := time.Now()
	for range 3 {
		assert.True(t, allowReq(t, l, req("b")).Allowed, "b again: remembered")
	}
	d = allowReq(t, l, req("c"))
	require.False(t, d.Allowed, "c within b's interval")
	// b was counted once: c waits one interval from b, not several.
	assert.LessOrEqual(t, d.RetryAfter, 400*time.Millisecond-time.Since(counted)+20*time.Millisecond, "b was counted more than once")
}

// testLimiterIDWindow checks that a key forgets an ID once the limit's
// window (Per) has passed: the ID is then counted again.
func testLimiterIDWindow(t *testing.T, l notify.Limiter, key string) {
	limit := notify.Limit{Rate: 2, Per: 300 * time.Millisecond}
	req := notify.LimitRequest{Key: key, ID: "n1", Limit: limit}
	require.Equal(t, notify.Decision{Allowed: true, Remaining: 1}, allowReq(t, l, req))
	time.Sleep(400 * time.Millisecond)
	// Remembered, it would answer Remaining 2 (the burst is back).
	assert.Equal(t, notify.Decision{Allowed: true, Remaining: 1}, allowReq(t, l, req), "n1 after the window: counted afresh")
}

// testLimiterIDConcurrent is many deliveries of few notifications asking
// at once: each notification is counted once, and exactly Burst of them
// are allowed.
func testLimiterIDConcurrent(t *testing.T, l notify.Limiter, key string) {
	const notifications, deliveries = 6, 8
	limit := notify.Limit{Rate: 4, Per: time.Hour}
	ctx := timeout(t, 20*time.Second)
	var mu sync.Mutex
	allowed := map[string]int{}
	var wg sync.WaitGroup
	start := make(chan struct{})
	for n := range notifications {
		for range deliveries {
			id := fmt.Sprint("n", n)
			wg.Go(func() {
				<-start
				d, err := l.Allow(ctx, notify.LimitRequest{Key: key, ID: id, Limit: limit})
				if !assert.NoError(t, err) {
					return
				}
				if d.Allowed {
					mu.Lock()
					allowed[id]++
					mu.Unlock()
				}
			})
		}
	}
	close(start)
	wg.Wait()
	assert.Len(t, allowed, 4, "notifications allowed of %d under a burst of 4: %v", notifications, allowed)
	// Every notification allowed counted once: the burst is spent, and
	// none is over it.
	d := allow(t, l, key, limit)
	assert.False(t, d.Allowed, "an event after four notifications under a burst of 4")
	assert.LessOrEqual(t, d.RetryAfter, 15*time.Minute+time.Second, "more than four events were counted (RetryAfter %v)", d.RetryAfter)
}

// testLimiterForce checks that a forced event is counted over the limit
// and Allowed, and that a forced ID is counted once.
func testLimiterForce(t *testing.T, l notify.Limiter, key string) {
	limit := notify.Limit{Rate: 1, Per: time.Hour}
	start := time.Now()
	require.True(t, allow(t, l, key, limit).Allowed)
	forced := notify.LimitRequest{Key: key, ID: "critical", Limit: limit, Force: true}
	for i := range 3 {
		assert.Equal(t, notify.Decision{Allowed: true, Remaining: 0}, allowReq(t, l, forced), "forced event, asked %d times", i+1)
	}
	d := allow(t, l, key, limit)
	assert.False(t, d.Allowed)
	// Counted once: the next event waits for two intervals, not four.
	assertRetryAfter(t, d, 2*time.Hour, start)
	// A forced event without an ID counts each time.
	assert.True(t, allowReq(t, l, notify.LimitRequest{Key: key, Limit: limit, Force: true}).Allowed)
	assertRetryAfter(t, allow(t, l, key, limit), 3*time.Hour, start)
}

// testLimiterIDBound forces many events with IDs through a small limit:
// the key remembers the newest, but not all of them.
func testLimiterIDBound(t *testing.T, l notify.Limiter, key string) {
	limit := notify.Limit{Rate: 2, Per: time.Hour}
	const n = 100
	for i := range n {
		require.True(t, allowReq(t, l, notify.LimitRequest{Key: key, ID: fmt.Sprint("f", i), Limit: limit, Force: true}).Allowed)
	}
	assert.True(t, allowReq(t, l, notify.LimitRequest{Key: key, ID: fmt.Sprint("f", n-1), Limit: limit}).Allowed, "the newest forced ID is remembered")
	assert.False(t, allowReq(t, l, notify.LimitRequest{Key: key, ID: "f0", Limit: limit}).Allowed, "the oldest of %d forced IDs is still remembered: a key's IDs must be bounded", n)
}
