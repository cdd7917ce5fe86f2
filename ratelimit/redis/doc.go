// Package redis is a [notify.Limiter] on Redis, shared by every Dispatcher
// that uses the same Redis: a per-user limit holds across all instances.
//
// It implements GCRA (the generic cell rate algorithm) in a Lua script
// (gcra.lua) that runs atomically on the Redis server: one round trip and one
// key per Allow, the key holding a single timestamp.
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
//   - Failure policy ([Config].FailurePolicy): when Redis cannot be reached,
//     [FailOpen] (the default) allows the event, logs a warning and counts it
//     ([Limiter.FailOpens]); [FailClosed] returns an error instead. A caller's
//     canceled context is returned as an error under either policy.
//   - [Limiter.AllowBatch] answers many Allows in one round trip (a pipeline).
//
// Limits:
//   - The emission interval Per/Rate is rounded to a whole microsecond and is
//     at least 1µs (at most a million events per second per key), and
//     Per*Burst/Rate must stay under 2^52µs (about 142 years).
//   - Keys are Config.Prefix + key; one key per limited user and category,
//     expiring as soon as the key's state is back to a full burst.
//   - A call whose reply is lost (a timeout) and that the client retries
//     may count one event twice: the error is on the side of sending less.
//   - How long a call waits for a stalled Redis is the client's business
//     (its timeouts and retries; see [New]).
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
