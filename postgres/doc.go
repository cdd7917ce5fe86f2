// Package postgres keeps notify's durable state in PostgreSQL (through
// jackc/pgx/v5 and pgxpool). A [Backend] is one schema's state: a [Queue],
// a [Store] (contacts, preferences and the notification log) and a
// [Deduper], prepared by [Backend.Migrate]. [Backend.Tx] binds them to the
// caller's own transaction for notify.Dispatcher.SendTx: the notification
// exists if and only if that transaction commits (the outbox pattern).
//
// Start-up, once per process:
//
//	pg, _ := postgres.New(pool, postgres.Config{})
//	pg.Migrate(ctx) // advisory-locked, idempotent
//	d, _ := notify.New(notify.Config{Queue: pg.Queue(), Store: pg.Store(), Deduper: pg.Deduper(), ...})
//
// and, inside a transaction of the host's:
//
//	receipt, err := d.SendTx(ctx, pg.Tx(tx), n) // roll tx back on error
//
// Guarantees:
//   - Queue: at-least-once delivery. Receive leases a batch with
//     FOR UPDATE SKIP LOCKED, so receivers in any number of processes never
//     hold the same job at once (the concurrent Receives of one queue on
//     one Queue share one fetch); a lease that is not acked, nacked or buried
//     within Config.Visibility is handed out again with its attempt
//     counted (crash recovery needs no janitor). Receivers wake on
//     LISTEN/NOTIFY when work commits, with a slow fallback poll. Acked jobs
//     are deleted; buried jobs stay, listed by [Queue.Dead], until
//     [Queue.Replay]. A leased job whose delivery cannot be decoded is
//     buried by Receive, with the reason "unreadable delivery: …".
//     Lease.Deadline is set from the database's lease expiry, by this
//     process's clock and never later than the database's (see
//     [Queue.Extend]).
//   - Queue is a [notify.LeaseExtender]: [Queue.Extend] moves a held
//     lease's expiry in one UPDATE, so a long send keeps its job.
//   - Store: every event is one row; a delivery's state is the fold of its
//     events by [notify.DeliveryState.Apply], as in every other EventLog.
//   - Deduper: one row per claimed key with an expiry; of concurrent claims
//     of one key exactly one wins (the primary key decides).
//   - Queue is a [notify.EventLogQueue] and a [notify.Accepter]: given a
//     [Store] (and a [Deduper]) of its schema (on the same database, or
//     bound to the same transaction by [Backend.Tx]), [Queue.Accept]
//     claims event IDs, records log events and enqueues jobs,
//     [Queue.EnqueueLogged] records log events and enqueues jobs, and
//     [Queue.AckLogged] records an event and acks a lease, each in one
//     statement (one round trip, one transaction). The Dispatcher uses
//     them: a claim exists if and only if its deliveries do, and a round
//     trip is saved on each side of a delivery.
//   - Queue is a [notify.EventLogCanceler]: [Queue.Cancel] deletes, in
//     one statement, the jobs among some IDs that hold no lease (one
//     whose lease ran out unsettled is kept until a Nack clears it); a
//     job being leased is either deleted or leased, never both (row locks
//     decide). [Queue.CancelLogged] also records their canceled events
//     in that statement, for notify.Dispatcher.Cancel.
//   - Concurrent Enqueue, EnqueueLogged, Ack, AckLogged, Record, State and
//     Claim calls on one value are combined into one statement each (group
//     commit): a call returns once its own rows are committed, an idle
//     database adds no wait, and under load one round trip serves many
//     calls.
//   - SendTx through [Backend.Tx] refuses, before writing anything, a
//     Dispatcher whose Queue, Store or Deduper is not the Backend's own
//     (or a wrapper that unwraps to it): [notify.ForeignBackendError].
//   - Migrate: numbered SQL files embedded in the binary, applied in one
//     transaction under an advisory lock; safe to call from every process
//     at start-up, and idempotent.
//   - Every value is safe for concurrent use.
//   - The statements that run for every delivery or lookup (the fetch,
//     State, Delivery, Deliveries) and both prunes keep their indexed
//     plans whatever the tables' statistics say (none after a bulk
//     enqueue, or misleading ones): they are SQL functions (migration
//     0008) that turn the other plans off for their own statement. A
//     fetch starts its scan where the last found the oldest ready job, so
//     draining a backlog costs the same per job at a million as at a
//     hundred thousand; a scan from the front, every second (or less often
//     when it is slow: it takes at most a tenth of the time), finds jobs
//     that fell behind that point (expired leases).
//
// Limits:
//   - Visibility comes from the database's clock (now()), except
//     Job.NotBefore, which comes from the caller's.
//   - Stats scans the queue's rows; it is for monitoring, not every request.
//   - Event log rows past Config.Retention and expired dedup claims are
//     removed by [Store.Prune] and [Deduper.Prune], which Dispatcher.Run
//     calls every notify.Config.PruneEvery (default hourly); a host that does not
//     run a Dispatcher calls them itself. Both delete in batches of 10,000
//     rows and find old rows through BRIN indexes, which they summarize
//     first (when the connecting role owns them; autosummarize otherwise).
//     Space that VACUUM frees is reused by new rows, which widens the
//     BRIN ranges: on a log recycled many times over, Prune reads more of
//     it.
//   - A job whose lease expired while newer jobs were fetched waits up to
//     a second longer than Visibility to be received again (up to ten
//     times a scan from the front of the fetch index, when that takes
//     longer than a tenth of a second: dead entries that VACUUM has not
//     removed yet).
//   - A combined statement that fails fails every call in it; callers retry
//     as they would any database error.
package postgres
