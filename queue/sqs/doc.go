// Package sqs is a notify.Queue on Amazon SQS (aws-sdk-go-v2), for
// Dispatchers on many machines sharing one set of queues.
//
// Each notify queue ("notify.sms") is one SQS queue (named by [Name],
// "notify-sms", or mapped explicitly with Config.QueueURLs), with a
// dead-letter queue found through its redrive policy. With
// Config.CreateQueues both are created on first use. A job travels as a
// JSON message body holding its ID, queue, NotBefore and Delivery.
// Credentials and region come from the default AWS configuration chain;
// Config.Endpoint points the client at a local server such as fauxqs.
//
// Guarantees:
//   - At-least-once: Enqueue returns nil only when SQS stored every job;
//     a batch entry SQS fails is sent again, never dropped.
//   - A lease is the visibility timeout (Config.Visibility); a job neither
//     acked, nacked nor buried in time is received again with its Attempt
//     (ApproximateReceiveCount) one higher. Lease.Deadline is when that
//     happens, estimated by this process's clock (see [Queue.Receive]).
//   - Queue is a notify.LeaseExtender: [Queue.Extend] hides a held
//     lease's message longer with ChangeMessageVisibility, up to 12 hours
//     from its receipt, so a long send keeps its job.
//   - A job is never handed out before its NotBefore: up to 15 minutes by
//     DelaySeconds, later (and on FIFO queues, which have no per-message
//     delay) by hiding it again when it is received early; those early
//     receipts are not counted in Attempt.
//   - Ack, Nack and Bury of a lease this Queue did not hand out, already
//     settled, or past its visibility timeout return notify.ErrLeaseLost
//     and leave SQS alone.
//   - Requests are batched: SendMessageBatch (10 messages, 1 MiB; small
//     concurrent Enqueues share calls), ReceiveMessage (10 messages, one
//     long poll per queue shared by every Receive; what it brings waits for
//     the next Receive, for at most half the visibility timeout) and
//     DeleteMessageBatch (10 receipts, acks gathered for up to
//     Config.AckLinger in the background, flushed by Stats and Close). With
//     busy producers a Dispatcher costs about 0.31 SQS requests per
//     notification delivered; a trickle of single sends about 2 (see the
//     README's benchmark).
//   - FIFO queues (Config.FIFO): one user's notifications share a message
//     group and are delivered in order; a job's ID is its deduplication ID,
//     so SQS drops the same ID sent again within 5 minutes.
//
// Limits (SQS's, mostly):
//   - Standard queues cannot deduplicate: enqueueing a job ID already on the
//     queue in a later call stores a second copy (one call's repeats are
//     sent once). FIFO queues drop repeats for 5 minutes only. The
//     Dispatcher's log makes a redelivered or repeated delivery that was
//     already sent a no-op, but two copies leased at the same moment can
//     both be sent.
//   - A nack delay is cut to 12 hours from receipt. A job scheduled more
//     than 15 minutes ahead (or any scheduled job on FIFO) is received and
//     hidden again up to every 12 hours; each such receipt counts toward
//     the redrive policy's maxReceiveCount.
//   - Bury is two calls (send to the dead-letter queue, delete); a crash in
//     between leaves the job both dead and live. Replay looks through the
//     dead-letter queue (one request per ten dead letters). SQS keeps
//     messages 14 days at most (queues this package creates), dead ones too.
//   - Stats are SQS's approximate counts; OldestReady is zero. A delay
//     nacked by another process counts as in flight.
//   - On FIFO queues a job being retried holds back its user's later jobs
//     until it is acked (that is what in order means).
//   - A ReceiveMessage reply lost on the way (Close abandons the long poll
//     in progress; a connection drops) leaves its messages hidden for one
//     visibility timeout: they are late, not lost. On FIFO queues a
//     ReceiveRequestAttemptId lets the SDK's retry get the same messages back.
//   - Leases and their bookkeeping live in the Queue value that received
//     them: Ack, Nack and Bury must be called on it.
package sqs
