// Package postgres keeps notify's durable state in PostgreSQL (through
// jackc/pgx/v5 and pgxpool): a [Queue], a [Store] (contacts, preferences and
// the notification log) and a [Deduper], in one schema prepared by
// [Migrate]. [Store.SendTx] sends a notification inside the caller's own
// transaction: it exists if and only if that transaction commits (the
// outbox pattern).
//
// Guarantees:
//   - Queue: at-least-once delivery. Receive leases a batch with
//     FOR UPDATE SKIP LOCKED, so concurrent receivers in any number of
//     processes never hold the same job at once; a lease that is not acked,
//     nacked or buried within QueueConfig.Visibility is handed out again
//     (crash recovery needs no janitor). Receivers wake on LISTEN/NOTIFY
//     when work is committed, with a slow fallback poll; concurrent Acks
//     are combined into one statement. Acked jobs are deleted; buried jobs
//     stay, listed by [Queue.Dead], until [Queue.Replay].
//   - Store: every event is one row; a delivery's state is the fold of its
//     events by [notify.DeliveryState.Apply], the same as every other Log.
//   - Deduper: one row per claimed key with an expiry; of concurrent claims
//     of one key exactly one wins (a unique index decides).
//   - Migrate: numbered SQL files embedded in the binary, applied in one
//     transaction under an advisory lock; safe to call from every process
//     at start-up.
//
// Limits:
//   - All times that decide visibility come from the database's clock
//     (now()), except Job.NotBefore, which comes from the caller's.
//   - Stats scans the queue's rows; it is meant for monitoring, not for
//     every request.
//   - Rows of the log and expired dedup claims are removed only by
//     [Store.Prune] and [Deduper.Prune]; run them periodically.
package postgres
