// Package postgres keeps notify's durable state in PostgreSQL (through
// jackc/pgx/v5 and pgxpool): a [Queue], a [Store] (contacts, preferences and
// the notification log) and a [Deduper], in one schema prepared by
// [Migrate]. [Store.SendTx] sends a notification inside the caller's own
// transaction: it exists if and only if that transaction commits (the
// outbox pattern).
//
// Start-up, once per process:
//
//	postgres.Migrate(ctx, pool, postgres.MigrateConfig{})
//	queue, _ := postgres.NewQueue(pool, postgres.QueueConfig{})
//	store, _ := postgres.NewStore(pool, postgres.StoreConfig{})
//	dedup, _ := postgres.NewDeduper(pool, postgres.DeduperConfig{})
//	d, _ := notify.New(notify.Config{Queue: queue, Store: store, Deduper: dedup, ...})
//
// Guarantees:
//   - Queue: at-least-once delivery. Receive leases a batch with
//     FOR UPDATE SKIP LOCKED, so receivers in any number of processes never
//     hold the same job at once; a lease that is not acked, nacked or buried
//     within QueueConfig.Visibility is handed out again with its attempt
//     counted (crash recovery needs no janitor). Receivers wake on
//     LISTEN/NOTIFY when work commits, with a slow fallback poll. Acked jobs
//     are deleted; buried jobs stay, listed by [Queue.Dead], until
//     [Queue.Replay]. Lease.Deadline is set from the database's lease
//     expiry, by this process's clock and never later than the database's
//     (see [Queue.Extend]).
//   - Queue is a [notify.LeaseExtender]: [Queue.Extend] moves a held
//     lease's expiry in one UPDATE, so a long send keeps its job.
//   - Store: every event is one row; a delivery's state is the fold of its
//     events by [notify.DeliveryState.Apply], as in every other EventLog.
//   - Deduper: one row per claimed key with an expiry; of concurrent claims
//     of one key exactly one wins (the primary key decides).
//   - Queue is a [notify.EventLogQueue]: given a [Store] of its schema (on
//     the same database, or bound to the same transaction by SendTx),
//     [Queue.EnqueueLogged] records log events and enqueues jobs, and
//     [Queue.AckLogged] records an event and acks a lease, each in one
//     statement (one round trip, one transaction). The Dispatcher uses them,
//     saving a round trip on each side of a delivery.
//   - Concurrent Enqueue, EnqueueLogged, Ack, AckLogged, Record, State and
//     Claim calls on one value are combined into one statement each (group
//     commit): a call returns once its own rows are committed, an idle
//     database adds no wait, and under load one round trip serves many
//     calls.
//   - Migrate: numbered SQL files embedded in the binary, applied in one
//     transaction under an advisory lock; safe to call from every process
//     at start-up, and idempotent.
//   - Every value is safe for concurrent use.
//
// Limits:
//   - Visibility comes from the database's clock (now()), except
//     Job.NotBefore, which comes from the caller's.
//   - Stats scans the queue's rows; it is for monitoring, not every request.
//   - Event log rows past StoreConfig.Retention and expired dedup claims are
//     removed by [Store.Prune] and [Deduper.Prune], which Dispatcher.Run
//     calls every Config.PruneEvery (default hourly); a host that does not
//     run a Dispatcher calls them itself.
//   - A combined statement that fails fails every call in it; callers retry
//     as they would any database error.
package postgres
