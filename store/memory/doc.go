// Package memory is a notify.Store (contacts, preferences and the
// notification log) held in the process's memory, for one process and for
// tests.
//
// Guarantees:
//   - Safe for concurrent use. Events for one delivery are kept in the order
//     they were recorded; concurrent Records lose nothing.
//   - State is kept with notify.DeliveryState.Apply as events arrive, so the
//     hot-path read (State) is a map lookup that allocates nothing.
//   - Contacts are copied in and out: changing a Contact after PutContact,
//     or one returned by Contact, does not change the stored one.
//   - A notification is never evicted from the log while one of its
//     deliveries is live (its status is not final: queued, retrying,
//     deferred, config_error, replayed), so the Dispatcher always finds
//     the state of what it is still delivering.
//   - Of the notifications whose deliveries are all final, at most
//     Config.MaxNotifications are kept, and (when Config.Retention is set)
//     none older than Retention; the oldest go first.
//   - The Store is a notify.OnceRecorder: RecordOnce records a provider's
//     report once however many copies arrive at the same time.
//
// Limits:
//   - Nothing survives the process. Use the postgres package to keep the log.
//   - Live notifications are kept past MaxNotifications rather than lost
//     (refusing to record would lose the outcomes that make them final):
//     the log grows with what is in flight. With queue/memory that is
//     bounded by its Config.MaxJobs, which makes Send refuse new work.
//   - A delivery whose log is never made final (its queued job was lost
//     with another process's memory, say) keeps its notification for as
//     long as the process lives.
//   - Contacts and preferences are not bounded; they grow with the users.
package memory
