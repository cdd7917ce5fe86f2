package postgres_test

import (
	"context"
	"log"
	"os"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/gonotify/notify"
	"github.com/gonotify/notify/postgres"
)

// A notification sent inside the caller's own transaction exists if and only
// if the transaction commits: the order row and the "order shipped"
// notification are written together, or neither is (the outbox pattern).
func ExampleStore_SendTx() {
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, os.Getenv("DATABASE_URL"))
	if err != nil {
		log.Fatal(err)
	}
	defer pool.Close()
	if err := postgres.Migrate(ctx, pool, postgres.MigrateConfig{}); err != nil {
		log.Fatal(err)
	}
	queue, err := postgres.NewQueue(pool, postgres.QueueConfig{})
	if err != nil {
		log.Fatal(err)
	}
	defer queue.Close()
	store, err := postgres.NewStore(pool, postgres.StoreConfig{})
	if err != nil {
		log.Fatal(err)
	}
	dedup, err := postgres.NewDeduper(pool, postgres.DeduperConfig{})
	if err != nil {
		log.Fatal(err)
	}
	var push notify.Channel // apns.New(...), fcm.New(...)
	d, err := notify.New(notify.Config{Queue: queue, Store: store, Deduper: dedup, Channels: []notify.Channel{push}})
	if err != nil {
		log.Fatal(err)
	}

	tx, err := pool.Begin(ctx)
	if err != nil {
		log.Fatal(err)
	}
	defer tx.Rollback(ctx) // a no-op after Commit
	if _, err := tx.Exec(ctx, "UPDATE orders SET status = 'shipped' WHERE id = $1", "o-42"); err != nil {
		log.Fatal(err)
	}
	receipt, err := store.SendTx(ctx, d, tx, notify.Notification{
		EventID:  "order-o-42-shipped",
		UserID:   "u-7",
		Category: "orders",
		Template: "order_shipped",
		Data:     map[string]any{"order": "o-42"},
	})
	if err != nil {
		log.Fatal(err) // the deferred Rollback undoes the order update too
	}
	if err := tx.Commit(ctx); err != nil {
		log.Fatal(err)
	}
	log.Printf("notification %s queued with the order update", receipt.NotificationID)
}

// Migrate at start-up from every process: one applies the migrations under
// an advisory lock, the others wait and find nothing to do.
func ExampleMigrate() {
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, os.Getenv("DATABASE_URL"))
	if err != nil {
		log.Fatal(err)
	}
	defer pool.Close()
	if err := postgres.Migrate(ctx, pool, postgres.MigrateConfig{Schema: "notify"}); err != nil {
		log.Fatal(err)
	}
}
