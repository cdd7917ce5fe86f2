package redis_test

import (
	"context"
	"fmt"
	"log"
	"time"

	"github.com/gonotify/notify"
	dedup "github.com/gonotify/notify/dedup/redis"
	goredis "github.com/redis/go-redis/v9"
)

// Every instance of a service claims event IDs in one Redis, so a repeated
// event is queued once whichever instance receives it.
func Example() {
	rdb := goredis.NewClient(&goredis.Options{Addr: "127.0.0.1:6379"})
	defer rdb.Close()
	deduper, err := dedup.New(rdb, dedup.Config{Prefix: "myapp:dedup:"})
	if err != nil {
		log.Fatal(err)
	}
	d, err := notify.New(notify.Config{
		Deduper:  deduper,
		DedupTTL: 24 * time.Hour,
		// Queue, Store, Channels ...
	})
	_, _ = d, err
}

// Claiming directly: the first claim of an event ID wins; later ones learn
// who holds it.
func ExampleDeduper_Claim() {
	rdb := goredis.NewClient(&goredis.Options{Addr: "127.0.0.1:6379"})
	defer rdb.Close()
	deduper, err := dedup.New(rdb, dedup.Config{})
	if err != nil {
		log.Fatal(err)
	}
	ctx := context.Background()
	won, holder, err := deduper.Claim(ctx, "order-1234-shipped", "notification-1", time.Hour)
	switch {
	case err != nil:
		fmt.Println("Redis is failing; nothing is claimed, retry:", err)
	case won:
		fmt.Println("ours: send it")
		// If sending fails, free the event ID for a retry:
		_ = deduper.Release(ctx, "order-1234-shipped", "notification-1")
	default:
		fmt.Println("already sent by", holder)
	}
}
