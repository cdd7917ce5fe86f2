package redis_test

import (
	"context"
	"fmt"
	"log"
	"log/slog"
	"time"

	"github.com/gonotify/notify"
	ratelimit "github.com/gonotify/notify/ratelimit/redis"
	goredis "github.com/redis/go-redis/v9"
)

// A limiter shared by every instance of a service, failing open with short
// timeouts: when Redis stalls, deliveries wait at most ~100ms for it and
// go out unlimited (counted in FailOpens) until it answers again.
func Example() {
	rdb := goredis.NewClient(&goredis.Options{
		Addr:         "127.0.0.1:6379",
		ReadTimeout:  100 * time.Millisecond,
		WriteTimeout: 100 * time.Millisecond,
		MaxRetries:   1,
	})
	defer rdb.Close()
	limiter, err := ratelimit.New(rdb, ratelimit.Config{Logger: slog.Default()})
	if err != nil {
		log.Fatal(err)
	}
	d, err := notify.New(notify.Config{
		Limiter: limiter,
		Categories: map[string]notify.CategoryPolicy{
			"marketing": {Limit: notify.Limit{Rate: 3, Per: 24 * time.Hour}, OverLimit: notify.OverLimitDrop},
		},
		// Queue, Store, Channels ...
	})
	_, _ = d, err
}

// Asking directly: three events a minute, in bursts of up to three.
func ExampleLimiter_Allow() {
	rdb := goredis.NewClient(&goredis.Options{Addr: "127.0.0.1:6379"})
	defer rdb.Close()
	limiter, err := ratelimit.New(rdb, ratelimit.Config{FailurePolicy: ratelimit.FailClosed})
	if err != nil {
		log.Fatal(err)
	}
	dec, err := limiter.Allow(context.Background(), notify.LimitRequest{Key: "user-42", Limit: notify.Limit{Rate: 3, Per: time.Minute}})
	switch {
	case err != nil:
		fmt.Println("Redis is failing; try later:", err)
	case dec.Allowed:
		fmt.Println("go ahead;", dec.Remaining, "more allowed now")
	default:
		fmt.Println("over the limit; retry in", dec.RetryAfter)
	}
}

// Asking about a whole fetch of deliveries in one round trip.
func ExampleLimiter_AllowBatch() {
	rdb := goredis.NewClient(&goredis.Options{Addr: "127.0.0.1:6379"})
	defer rdb.Close()
	limiter, err := ratelimit.New(rdb, ratelimit.Config{})
	if err != nil {
		log.Fatal(err)
	}
	perUser := notify.Limit{Rate: 10, Per: time.Hour}
	decisions, errs := limiter.AllowBatch(context.Background(), []ratelimit.Request{
		{Key: "user-1", Limit: perUser},
		{Key: "user-2", Limit: perUser},
		{Key: "user-1", Limit: perUser}, // counts after the first user-1
	})
	for i, dec := range decisions {
		if errs != nil && errs[i] != nil {
			continue
		}
		fmt.Println(i, dec.Allowed)
	}
}
