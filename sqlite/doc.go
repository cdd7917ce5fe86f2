// Package sqlite keeps notify's durable state in one SQLite database file,
// through modernc.org/sqlite (pure Go: no cgo, no server to run). A
// [Backend] is one file's state: a [Queue], a [Store] (contacts,
// preferences and the notification log) and a [Deduper], prepared by
// [Backend.Migrate]. [Backend.Tx] binds them to the host's own
// transaction (begun on [Backend.DB]) for notify.Dispatcher.SendTx: the
// notification exists if and only if that transaction commits.
//
// Start-up, once per process:
//
//	db, err := sqlite.Open("/var/lib/app/notify.db", sqlite.Config{})
//	if err != nil { ... } // a *sqlite.LockedError: another process has the file
//	defer db.Close()
//	if err := db.Migrate(ctx); err != nil { ... }
//	d, _ := notify.New(notify.Config{Queue: db.Queue(), Store: db.Store(), Deduper: db.Deduper(), ...})
//
// and, inside a transaction of the host's:
//
//	tx, _ := db.DB().BeginTx(ctx, nil)
//	receipt, err := d.SendTx(ctx, db.Tx(tx), n) // roll tx back on error
//
// Guarantees:
//   - Durability: the file is in WAL mode with synchronous=FULL (the
//     default Config.Synchronous): every commit fsyncs the write-ahead
//     log, so a Send that returned nil survives a crash of the process
//     and a loss of power.
//   - One process owns the file: Open takes an exclusive flock on
//     path+".lock" for the Backend's life, and a second Open (this process
//     or another) fails with a [*LockedError] (errors.Is [ErrLocked]).
//     Several processes on one database need the postgres package.
//   - One write connection runs every write (group commit): writes that
//     arrive while a transaction commits are run together in the next
//     one, each in a savepoint of its own (a failing write undoes only
//     itself), so one fsync serves many Sends, Acks and log records under
//     load, and an idle Backend commits a lone write at once. Reads run on
//     a pool of read connections (Config.Readers) beside it.
//   - Queue: at-least-once delivery; a lease not acked, nacked or buried
//     within Config.Visibility is handed out again with its attempt
//     counted (crash recovery needs no janitor). Receivers are woken at
//     once by the Backend's own enqueues (and by a host transaction's
//     commit, through a commit hook on the write connection), with a
//     slow poll (Config.PollInterval) as the fallback. It is a
//     [notify.LeaseExtender] and a [notify.VisibilityReporter].
//   - Queue is a [notify.EventLogQueue] and a [notify.Accepter]: with its
//     own Backend's Store (and Deduper), [Queue.Accept] claims event IDs,
//     records log events and enqueues jobs, and [Queue.EnqueueLogged] and
//     [Queue.AckLogged] record and enqueue or ack, each in one
//     transaction: a claim exists if and only if its deliveries do.
//   - Queue is a [notify.EventLogCanceler]: [Queue.Cancel] deletes the
//     jobs among some IDs that hold no lease (one whose lease ran out
//     unsettled is kept until a Nack clears it), and [Queue.CancelLogged]
//     records their canceled events in the same transaction, for
//     notify.Dispatcher.Cancel.
//   - Store is a [notify.OnceRecorder] (a unique index decides) and a
//     [notify.Pruner] (log events past Config.Retention); Deduper is a
//     [notify.BatchDeduper] and a [notify.Pruner] (expired claims).
//   - SendTx through [Backend.Tx] refuses, before writing anything, a
//     Dispatcher whose Queue, Store or Deduper is not the Backend's own
//     (or a wrapper that unwraps to it): [notify.ForeignBackendError].
//   - Migrate: numbered SQL files embedded in the binary, applied in one
//     transaction; idempotent.
//   - Every value is safe for concurrent use.
//
// Limits:
//   - Times (leases, claims, NotBefore) come from this process's clock.
//   - A host transaction on DB() holds the one write connection: every
//     write of the Backend waits for it, so keep it short, and never call
//     Send (rather than SendTx) from inside it: Send would wait for the
//     transaction, which waits for Send.
//   - Stats scans the queue's rows; it is for monitoring.
//   - On platforms without flock (Windows), the lock file is not locked:
//     nothing stops a second process.
package sqlite
