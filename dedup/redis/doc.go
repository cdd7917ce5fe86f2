// Package redis is a [notify.Deduper] on Redis, shared by every Dispatcher
// that uses the same Redis: an event ID is claimed once across all
// instances.
//
// A claim is one command, SET key owner NX PX ttl GET: it sets the key only
// if nobody holds it and, when somebody does, returns the holder in the same
// round trip (Redis >= 7; on older servers, detected on first use, a GET
// follows a lost SET NX). Release is a compare-and-delete script that drops
// the key only while the given owner still holds it.
//
// Guarantees:
//   - Of many simultaneous Claims of one key, from any number of processes,
//     exactly one wins until the key's ttl passes or its owner releases it;
//     the others learn the holder.
//   - Release never drops another owner's claim.
//   - Fail closed: when Redis cannot answer, Claim returns an error and
//     claims nothing, so notify.Dispatcher.Send returns an error the caller
//     can retry. When the reply is lost after Redis may have applied the SET
//     (a timeout, a dropped connection), Claim also tries to release the
//     claim it may have made, so a retried Send is not taken for a
//     duplicate of the failed one.
//   - Every call returns as soon as its ctx is done, whatever the client's
//     options (go-redis bounds its socket reads by a ctx only with
//     Options.ContextTimeoutEnabled, and never on a cancellation): the
//     commands of a call whose ctx can end run in a goroutine of its own,
//     which the call leaves behind when ctx ends first. A Claim left so
//     returns ctx's error and, like any failed Claim, holds nothing: when
//     Redis answers it later, the goroutine releases the claim it made.
//     Until then Release of that key by that owner returns an error (it
//     cannot know whether the key is held), which the Dispatcher reads as
//     "the claim may stay": its Send returns an error without ErrNotQueued.
//   - [Deduper.ClaimBatch] makes many claims in one round trip (a pipeline).
//
// Limits:
//   - ttl is rounded up to a whole millisecond (Redis PX).
//   - The claim lives only as long as Redis keeps it: run Redis with
//     persistence (AOF) or replication if claims must survive its restart;
//     an ephemeral Redis forgets every claim when it restarts.
//   - Keys are Config.Prefix + key.
//   - A goroutine left behind ends when the client gives up on Redis (its
//     ReadTimeout or WriteTimeout; ctx stops its retries), plus up to a
//     second of cleanup, and holds one of the client's connections until
//     then. A call whose ctx can end starts one goroutine: about 1µs and 5
//     allocations (400 bytes) more per Claim (BenchmarkAwait), against a
//     round trip's tens of µs.
//   - Tested on Redis 7.0; the path for older servers is tested by forcing
//     it, and its detection (Redis answering "ERR syntax error" to SET with
//     NX and GET) was not run against a Redis 6.
package redis
