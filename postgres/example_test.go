package postgres_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"log/slog"
	"os"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/gonotify/notify"
	"github.com/gonotify/notify/postgres"
	qmem "github.com/gonotify/notify/queue/memory"
)

// printChannel prints what it would send.
type printChannel struct{ name string }

func (c printChannel) Name() string { return c.name }

func (c printChannel) Send(_ context.Context, d *notify.Delivery) (notify.Result, error) {
	fmt.Printf("%s to %s: %s\n", c.name, d.Address, d.Message.Body)
	return notify.Result{ProviderID: "msg-1"}, nil
}

// deliver runs d's workers until notification id is settled, and prints
// its status.
func deliver(ctx context.Context, d *notify.Dispatcher, id string) {
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { _ = d.Run(runCtx); close(done) }()
	defer func() { stop(); <-done }()
	for {
		st, err := d.Status(ctx, id)
		if err != nil {
			log.Fatal(err)
		}
		if st[0].Status.Final() {
			fmt.Println("status:", st[0].Status)
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// The Backend of one schema gives a Dispatcher its Queue, Store and
// Deduper, in every process that shares the database.
func ExampleNew() {
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, os.Getenv("DATABASE_URL"))
	if err != nil {
		log.Fatal(err)
	}
	defer pool.Close()
	pg, err := postgres.New(pool, postgres.Config{
		Schema:    "notify",           // the default
		Retention: 7 * 24 * time.Hour, // of the notification log
	})
	if err != nil {
		log.Fatal(err)
	}
	defer pg.Close() // the pool stays open
	if err := pg.Migrate(ctx); err != nil {
		log.Fatal(err)
	}
	d, err := notify.New(notify.Config{
		Queue: pg.Queue(), Store: pg.Store(), Deduper: pg.Deduper(),
		Channels: []notify.Channel{printChannel{"push"}}, // apns.New(...), fcm.New(...)
		Logger:   slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		log.Fatal(err)
	}
	r, err := d.Send(ctx, notify.Notification{
		EventID: "welcome-u-7",
		To:      []notify.Address{{Channel: "push", Value: "device-7"}},
		Content: &notify.Message{Title: "Welcome", Body: "Glad you're here."},
	})
	if err != nil {
		log.Fatal(err)
	}
	deliver(ctx, d, r.NotificationID) // d.Run, usually started with the process
	// Output:
	// push to device-7: Glad you're here.
	// status: sent
}

// A notification sent inside the caller's own transaction exists if and only
// if the transaction commits: the order update and the "order shipped"
// notification are written together, or neither is (the outbox pattern).
func ExampleBackend_Tx() {
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, os.Getenv("DATABASE_URL"))
	if err != nil {
		log.Fatal(err)
	}
	defer pool.Close()
	pg, err := postgres.New(pool, postgres.Config{})
	if err != nil {
		log.Fatal(err)
	}
	defer pg.Close()
	if err := pg.Migrate(ctx); err != nil {
		log.Fatal(err)
	}
	d, err := notify.New(notify.Config{
		Queue: pg.Queue(), Store: pg.Store(), Deduper: pg.Deduper(),
		Channels: []notify.Channel{printChannel{"push"}},
		Logger:   slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		log.Fatal(err)
	}
	// The application's own table.
	if _, err := pool.Exec(ctx, `CREATE TABLE IF NOT EXISTS orders (id text PRIMARY KEY, status text NOT NULL);
		INSERT INTO orders VALUES ('o-42', 'paid') ON CONFLICT DO NOTHING`); err != nil {
		log.Fatal(err)
	}

	// ship marks the order shipped and notifies its buyer, in one
	// transaction, which it commits or rolls back.
	ship := func(orderID string, commit bool) (notify.Receipt, error) {
		tx, err := pool.Begin(ctx)
		if err != nil {
			return notify.Receipt{}, err
		}
		defer tx.Rollback(ctx) // a no-op after Commit
		if _, err := tx.Exec(ctx, "UPDATE orders SET status = 'shipped' WHERE id = $1", orderID); err != nil {
			return notify.Receipt{}, err
		}
		r, err := d.SendTx(ctx, pg.Tx(tx), notify.Notification{
			EventID: "order-" + orderID + "-shipped",
			To:      []notify.Address{{Channel: "push", Value: "device-7"}},
			Content: &notify.Message{Title: "Order shipped", Body: "Order " + orderID + " is on its way."},
		})
		if err != nil || !commit {
			return r, err // the deferred Rollback undoes the order update too
		}
		return r, tx.Commit(ctx)
	}

	r, err := ship("o-42", false) // a later step of the transaction failed
	if err != nil {
		log.Fatal(err)
	}
	_, err = d.Status(ctx, r.NotificationID)
	fmt.Println("rolled back, logged:", !errors.Is(err, notify.ErrNotFound))

	r, err = ship("o-42", true)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("committed, duplicate:", r.Duplicate)
	deliver(ctx, d, r.NotificationID)
	// Output:
	// rolled back, logged: false
	// committed, duplicate: false
	// push to device-7: Order o-42 is on its way.
	// status: sent
}

// SendTx refuses a Dispatcher whose Queue, Store or Deduper is not the
// Backend's own, before anything is written: here the queue is in memory,
// where the transaction cannot reach, so the notification would be queued
// even if the transaction rolled back.
func ExampleBackend_Tx_foreign() {
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, os.Getenv("DATABASE_URL"))
	if err != nil {
		log.Fatal(err)
	}
	defer pool.Close()
	pg, err := postgres.New(pool, postgres.Config{})
	if err != nil {
		log.Fatal(err)
	}
	defer pg.Close()
	queue := qmem.New(qmem.Config{})
	defer queue.Close()
	d, err := notify.New(notify.Config{
		Queue: queue, Store: pg.Store(), Deduper: pg.Deduper(),
		Channels: []notify.Channel{printChannel{"push"}},
	})
	if err != nil {
		log.Fatal(err)
	}
	tx, err := pool.Begin(ctx)
	if err != nil {
		log.Fatal(err)
	}
	defer tx.Rollback(ctx)
	_, err = d.SendTx(ctx, pg.Tx(tx), notify.Notification{
		To:      []notify.Address{{Channel: "push", Value: "device-7"}},
		Content: &notify.Message{Body: "Hello"},
	})
	var fe *notify.ForeignBackendError
	if errors.As(err, &fe) {
		fmt.Println(fe.Backend+":", fe.Reason)
		fmt.Println("nothing queued:", errors.Is(err, notify.ErrNotQueued))
	}
	// Output:
	// Queue: it is a *memory.Queue, which neither is nor unwraps to a *postgres.Queue
	// nothing queued: true
}

// Migrate at start-up from every process: one applies the migrations under
// an advisory lock, the others wait and find nothing to do.
func ExampleBackend_Migrate() {
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, os.Getenv("DATABASE_URL"))
	if err != nil {
		log.Fatal(err)
	}
	defer pool.Close()
	pg, err := postgres.New(pool, postgres.Config{Schema: "notify"})
	if err != nil {
		log.Fatal(err)
	}
	defer pg.Close()
	if err := pg.Migrate(ctx); err != nil {
		log.Fatal(err)
	}
	// Output:
}
