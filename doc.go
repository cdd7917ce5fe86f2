// Package notify sends notifications — iOS push (APNs), Android push (FCM),
// SMS and email — from inside a Go service, without losing one, sending one
// twice, or annoying its users.
//
// The host builds a [Dispatcher] from a [Config] that names its backends (a
// [Queue], a [Store], optionally a [Limiter], a [Deduper] and a [Renderer]) and
// its [Channel]s, then calls [Dispatcher.Send] on the accept side and
// [Dispatcher.Run] on the deliver side.
//
// Send validates a [Notification], de-duplicates it by event ID, resolves the
// user's contacts and opt-outs, records one [Delivery] per channel and address in
// the notification log and enqueues it on that channel's own queue. Send either
// returns an error or every delivery is durably queued.
//
// Run leases deliveries from the queues and, per delivery: drops it when it has
// expired, defers it to the end of its user's [QuietHours] (unless it is
// Critical), re-checks opt-out, skips redeliveries of something already sent,
// applies the per-user, per-category rate limit, renders the message, calls the
// channel and acts on the classified outcome (see [Retryable], [Permanent],
// [InvalidRecipient], [OptedOut] and [ConfigError]).
//
// Backends live in leaf packages: queue/memory, store/memory, ratelimit/memory
// and dedup/memory for one process and for tests, and PostgreSQL, SQS and Redis
// implementations for many processes. The notifytest package holds the
// conformance suites every backend runs and a scriptable fake [Channel].
//
// # Optional capabilities
//
// A backend or a channel may offer more than its interface requires: an
// optional interface that the Dispatcher looks for and uses when it is
// there, as database/sql looks for the optional interfaces of
// database/sql/driver. Each is listed below with the implementations in
// this module that have it, who looks for it and when, and what happens
// without it. The Dispatcher works without any of them; each saves round
// trips, makes two writes atomic, keeps a backend's size bounded, or lets
// the Dispatcher check more. [New] logs what it found at debug level on
// Config.Logger, in one line ("notify: optional capabilities").
//
// On a [Channel]:
//
//   - [Validator] (channel/apns, channel/fcm, channel/sms, channel/email;
//     notifytest.ValidatingChannel). Found by New. [Dispatcher.Send] calls
//     Validate on every delivery after rendering, and
//     [Dispatcher.PutContact] on each address. Without it, Send checks
//     only Config.MaxMessageBytes, and a message the provider refuses
//     fails when it is sent.
//   - [AddressNormalizer] (channel/sms: E.164; channel/email: ASCII,
//     lower-case domain). Found by New. [Dispatcher.PutContact],
//     NormalizeContact, RegisterDevice, RefreshDevice and Send pass every
//     address of the channel through it (one function,
//     before the Validator), so PutContact rejects exactly what Send
//     would and stores the form Send sends to: a rejected address is a
//     *ValidationError naming it ("Phone", "Devices[1].Token",
//     "To[2].Value"); a stored one that no longer normalizes is skipped
//     with ReasonInvalidAddress. Without it, addresses are stored and sent
//     as written, and two forms of one address are two addresses.
//   - [BatchSender] (channel/fcm; notifytest.BatchingChannel). Found by
//     New. Run's workers call SendBatch when one Receive fetched several
//     deliveries of the channel. Without it, one Send per delivery.
//
// On the [Queue] (Config.Queue; for Send, the Queue of its
// [AcceptBackends]):
//
//   - [Accepter] (postgres.Queue). Looked for by every Send: it claims the
//     event ID, records the log and enqueues the jobs in one transaction.
//     Without it (or when it answers errors.ErrUnsupported for these
//     backends), Send claims with the Deduper first and then writes, and
//     the rules of Dispatcher.Send for a claim without its log apply.
//   - [EventLogQueue] (postgres.Queue). Looked for by every Send (to
//     record and enqueue with one EnqueueLogged) and found by New for Run
//     (to record each delivery's outcome and ack its lease with one
//     AckLogged). Without it, or when it answers errors.ErrUnsupported
//     (the EventLog is not one it can write to), the Dispatcher calls
//     Record and then Enqueue or Ack: two round trips, and a failure
//     between them is repaired by a retried Send or by the job's next
//     receipt.
//   - [DeadLister] (queue/memory, postgres.Queue, sqlite.Queue, queue/sqs: its
//     dead-letter queue, read whole on each call). Looked for by
//     [Dispatcher.Dead] and [Dispatcher.ReplayDead]: dead deliveries listed
//     newest first, page by page, filtered by reason and burial time.
//     Without it both return an error wrapping errors.ErrUnsupported;
//     Replay of one delivery ID still works.
//   - [RepeatEnqueuer] (queue/sqs, which reports false). Looked for by a
//     Send whose repeated event ID finds its original logged as queued:
//     when Enqueue is not idempotent the original is not enqueued again.
//     Without it the Queue is taken to be idempotent by job ID, as the
//     Queue contract asks, and the original's queued deliveries are
//     enqueued again (see Dispatcher.Send).
//   - [LeaseExtender] (queue/memory, postgres.Queue, queue/sqs). Looked for
//     by New (see VisibilityReporter) and by Run when it starts each
//     channel: a worker extends the leases of a send that runs long.
//     Without it, a send ends before its lease does, leaving the reserve
//     to log its outcome (see Config.SendTimeout).
//   - [VisibilityReporter] (queue/memory, postgres.Queue, queue/sqs).
//     Looked for by New, which rejects a configuration in which a send
//     could outlive its lease: a visibility shorter than SendTimeout plus
//     the reserve, on a queue that cannot extend leases. Run takes the
//     length of a lease from it. Without it, New cannot check, and Run
//     takes the length of a lease from Lease.Deadline.
//   - [Canceler] (queue/memory, postgres.Queue, sqlite.Queue; not
//     queue/sqs, which cannot delete a message it has not received).
//     Looked for by [Dispatcher.Cancel] and CancelNotification, which take
//     a notification's unsent jobs off their queues. Without it, both
//     return an error wrapping errors.ErrUnsupported, having changed
//     nothing.
//   - [EventLogCanceler] (postgres.Queue, sqlite.Queue). Looked for by
//     Cancel: each job is removed and logged canceled in one transaction.
//     Without it, or when it answers errors.ErrUnsupported, Cancel removes
//     the jobs and then records their events; a failure between the two
//     leaves a delivery that will not be sent logged as queued.
//   - [Pruner]: see below.
//
// On the [Store] (Config.Store):
//
//   - [OnceRecorder] (store/memory, postgres.Store). Looked for by every
//     [Dispatcher.Feedback]: a provider report arriving twice at once is
//     recorded, and acted on, once. Without it, Feedback reads the
//     delivery's log before recording, which two simultaneous reports can
//     both pass.
//   - A method ProcessLocal() bool that returns true (store/memory): the
//     Store's log lives in this process's memory. Looked for by a Send
//     that finds its event ID claimed but not logged: a claim past
//     InProgressWindow is then answered as a duplicate, not taken over
//     (another process may have logged it), unless this Dispatcher saw its
//     Send fail. Without it, such a claim is taken over until
//     TakeoverWindow.
//   - [UserLog] (store/memory; postgres.Store and sqlite.Store: index
//     log_events_user).
//     Looked for by [Dispatcher.UserDeliveries]: a user's deliveries newest
//     first, paginated. Without it, UserDeliveries returns an error
//     wrapping errors.ErrUnsupported.
//   - [Reporter] (store/memory and sqlite.Store with Tally; postgres.Store
//     in SQL). Looked
//     for by [Dispatcher.Report]: engagement per template, category,
//     channel and day. Without it, Report returns an error wrapping
//     errors.ErrUnsupported.
//   - [Pruner] (postgres.Store: log events past Config.Retention).
//   - [DeviceRegistry] (store/memory, postgres.Store, sqlite.Store).
//     Looked for by [Dispatcher.RegisterDevice], UnregisterDevice,
//     RefreshDevice and PruneDevices: one device registered or removed
//     atomically, each token with one owner. Without it, those return an
//     error wrapping errors.ErrUnsupported; PutContact and RemoveDevice
//     work on every Store.
//   - [PreferenceLister] (store/memory, postgres.Store, sqlite.Store).
//     Looked for by [Dispatcher.Preferences]: every setting of a user,
//     for a settings screen. Without it, Preferences returns an error
//     wrapping errors.ErrUnsupported; Allowed and SetPreference work on
//     every Store.
//
// On the [Deduper] (Config.Deduper):
//
//   - [BatchDeduper] (dedup/redis). Looked for by every Send that claims
//     several event IDs (a SendBatch): it claims them with one ClaimBatch.
//     Without it, one Claim each.
//   - [ClaimHolder] (dedup/memory, dedup/redis, postgres.Deduper,
//     sqlite.Deduper). Looked
//     for by [Dispatcher.StatusByEvent] to read who holds an event ID.
//     Without it, StatusByEvent returns an error wrapping
//     errors.ErrUnsupported.
//   - [Pruner] (postgres.Deduper: expired claims).
//
// On the [Limiter] (Config.Limiter):
//
//   - [BatchLimiter] (ratelimit/redis). Looked for by Run for each batch
//     of leases it fetches: the first attempts of rate-limited deliveries
//     are checked with one AllowBatch (two when both a category's Limit and
//     Config.UserLimit apply). Without it, one Allow per delivery and limit.
//
// [Pruner] on the Store, the Deduper and the Queue: [Dispatcher.Run] calls
// Prune on each that has it (each value once) every Config.PruneEvery.
// Without it the Dispatcher prunes nothing there: the memory backends bound
// themselves, and a host with backends of its own prunes them itself.
//
// # Wrappers
//
// A wrapper around a backend or a channel (to count calls, trace them, or
// add a cache) hides its wrapped value's optional methods: a type that
// embeds notify.Store has only the Store's methods. To keep them, a wrapper
// implements [Unwrapper], returning what it wraps; the Dispatcher looks for
// every capability above with [As], which follows Unwrap as errors.As
// does. A capability found that way is called on the wrapped value,
// bypassing the wrapper (a metrics wrapper does not see Prune, SendBatch or
// AckLogged): a wrapper that must see those calls implements the
// capability itself. Likewise a postgres.Queue writes the log of a
// postgres.Store, and the claims of a postgres.Deduper, behind such a
// wrapper in its own statements. The notifytest suites check every
// capability a backend declares against the single calls it stands for,
// and the Dispatcher's debug line says which were found by unwrapping.
package notify
