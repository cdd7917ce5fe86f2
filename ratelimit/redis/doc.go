// Package redis is a [notify.Limiter] on Redis, shared by every Dispatcher
// that uses the same Redis: a per-user limit holds across all instances.
//
// It implements GCRA (the generic cell rate algorithm) in a Lua script
// (gcra.lua) that runs atomically on the Redis server: one round trip and one
// key per Allow, the key a sorted set holding the key's timestamp and the IDs
// of the events it counted (notify.LimitRequest.ID).
//
// Guarantees:
//   - Semantics of [notify.Limit]: Burst events at once (0 means Rate), then
//     one every Per/Rate; a denied event is not counted; RetryAfter is the
//     time until the next event would be allowed; Remaining is how many more
//     would be allowed now. Exact to the microsecond: the script computes in
//     integer microseconds of the Redis server's clock, the one clock every
//     instance shares, so clock skew between hosts does not matter.
//   - Atomic per key: concurrent Allows from any number of processes never
//     let more than the limit through.
//   - An event with an ID is counted once: the key remembers the ID for the
//     limit's window (Per, or Burst*Per/Rate when longer) and answers a
//     repeat Allowed without counting it, also when the repeat is a retry
//     of an Allow whose reply was lost. Force counts over the limit.
//   - Failure policy ([Config].FailurePolicy): when Redis cannot be reached,
//     or the call's ctx deadline passes before it answers, [FailOpen] (the
//     default) allows the event, logs a warning and counts it
//     ([Limiter.FailOpens]); [FailClosed] returns an error instead. A
//     caller's canceled context is returned as an error under either policy.
//   - Every call returns as soon as its ctx is done, whatever the client's
//     options (go-redis bounds its socket reads by a ctx only with
//     Options.ContextTimeoutEnabled, and never on a cancellation): the
//     commands of a call whose ctx can end run in a goroutine of its own,
//     which the call leaves behind when ctx ends first. So a stalled Redis
//     holds an Allow up for no longer than its ctx's deadline (the
//     Dispatcher's Config.BackendTimeout), and fail-open is that prompt.
//   - [Limiter.AllowBatch] answers many Allows in one round trip (a pipeline).
//
// Limits:
//   - The emission interval Per/Rate is rounded to a whole microsecond and is
//     at least 1µs (at most a million events per second per key), and
//     Per*Burst/Rate must stay under 2^52µs (about 142 years).
//   - Keys are Config.Prefix + key; one key per limited user and category,
//     expiring as soon as the key's state is back to a full burst and its
//     IDs are forgotten. A key remembers at most as many IDs as its limit
//     allows events in the window, plus one (forced events past that forget
//     the oldest). A key of another type (earlier versions wrote the
//     timestamp in a string) is taken over, afresh.
//   - A call without an ID whose reply is lost (a timeout) and that the
//     client retries may count one event twice: the error is on the side of
//     sending less. With an ID it counts once.
//   - A goroutine left behind ends when the client gives up on Redis (its
//     ReadTimeout or WriteTimeout; ctx stops its retries) and holds one of
//     the client's connections until then; an Allow it completes still
//     counts its event (on the side of sending less). A call whose ctx can
//     end starts one goroutine: about 1µs and 4 allocations (300 bytes)
//     more per Allow, against a round trip's tens of µs. A ctx that cannot
//     end (context.Background) waits for the client's timeouts (see [New]).
//   - Redis >= 5 (scripts replicate their effects), standalone, Sentinel or
//     Cluster (the script touches only its one key); tested on Redis 7.0.
//
// Why not github.com/go-redis/redis_rate/v10 (named in the design): it
// computes in floating-point seconds and truncates, so Remaining is one low
// for limits whose interval is not a round number (7 per minute reports 5
// remaining after the first event, not 6: measured against Redis 7.0), and it
// runs and reads each script call itself, so many Allows cannot share one
// round trip. Its script is the model for ours; the algorithm is the same.
package redis
