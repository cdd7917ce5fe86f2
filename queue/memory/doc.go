// Package memory is a notify.Queue held in the process's memory, for one
// process and for tests.
//
// Guarantees:
//   - At-least-once delivery within the process: a leased job that is not
//     acked, nacked or buried within the visibility timeout is handed out
//     again with its Attempt incremented.
//   - A lease is identified by its job ID and Attempt (and, after a Replay,
//     its Receipt); a lease no longer held makes Ack, Nack and Bury return
//     an error wrapping notify.ErrLeaseLost.
//   - Lease.Deadline is exactly when the lease expires. The Queue is a
//     notify.LeaseExtender: Extend moves a held lease's expiry, so a long
//     send keeps its job.
//   - Ready jobs are handed out in FIFO order; delayed jobs (NotBefore, Nack
//     with a delay) and leases sit in a min-heap keyed by the instant they
//     become ready. Receive blocks without polling and wakes at that instant.
//   - Enqueue, Receive and Ack allocate little: a Receive allocates its
//     lease slice, whatever the batch size, and copies no Delivery; job
//     records are reused.
//   - The Queue is a notify.Canceler: Cancel removes ready and delayed
//     jobs that hold no lease under the queue's lock, so a job is removed
//     or leased, never both; a job whose lease ran out unsettled is left
//     until a receiver Nacks it.
//   - Safe for concurrent use. No goroutine is started; nothing outlives Close.
//
// Limits:
//   - Nothing survives the process: jobs, leases and dead jobs are lost when
//     it exits. Use a durable backend (PostgreSQL, SQS, Redis) across
//     processes or restarts.
//   - Memory grows with the number of jobs held: about 225 bytes of the
//     Queue's own per job (its record, map entry and place in the FIFO), on
//     top of the Delivery the job carries. Live jobs (ready, delayed and
//     leased) are bounded by Config.MaxJobs: past it Enqueue returns an
//     error wrapping notify.ErrQueueFull, which Dispatcher.Send passes on
//     for the caller to retry later. Dead jobs are not bounded; they stay
//     until replayed.
//   - Memory follows the backlog down as well as up: a queue's index and
//     lists are made anew, smaller, once they hold under a quarter of their
//     peak, so draining a backlog of 1,000,000 jobs leaves well under 1 MiB
//     behind (it kept 62 MiB when they never shrank).
//   - Jobs are stored as the *notify.Delivery given to Enqueue: the caller
//     must not modify a Delivery after enqueueing it. Receive hands out
//     that same Delivery, which every lease of the job shares: a receiver
//     must not modify it either, as notify.Queue.Receive says (the
//     Dispatcher copies it before setting Attempt).
package memory
