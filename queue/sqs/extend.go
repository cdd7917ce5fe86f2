package sqs

import (
	"context"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/gonotify/notify"
)

var _ notify.LeaseExtender = (*Queue)(nil)

// Visibility returns how long a lease lasts from the moment SQS hands a
// message out: Config.Visibility, rounded up to whole seconds within 1s to
// 12h, or its default.
func (q *Queue) Visibility() time.Duration { return q.cfg.Visibility }

// Extend hides l's message for d from now with ChangeMessageVisibility and
// returns the new deadline (see Lease.Deadline): the time just before the
// call plus d rounded up to whole seconds, so never later than SQS's. d must
// be positive.
//
// SQS keeps a message hidden for at most 12 hours from its receipt: a
// longer extension is cut to that (the returned deadline says so), and
// one asked for within a second of the limit returns an error. A lease this
// Queue did not hand out or already settled, or whose message SQS handed
// out again (its receipt handle is no longer valid), returns an error
// wrapping notify.ErrLeaseLost. Like Ack, Extend must be called on the
// Queue that received the lease. A lease past its deadline whose message
// nobody has received again is still held, and Extend keeps it.
func (q *Queue) Extend(ctx context.Context, l notify.Lease, d time.Duration) (time.Time, error) {
	if d <= 0 {
		return time.Time{}, fmt.Errorf("sqs: extend lease of job %s by %v: the duration must be positive", l.Job.ID, d)
	}
	cctx, done, err := q.begin(ctx)
	if err != nil {
		return time.Time{}, err
	}
	defer done()
	q.mu.Lock()
	st := q.leases[l.Handle]
	var url, receipt string
	var received time.Time
	if st != nil {
		url, receipt, received = st.url, st.receipt, st.received
	}
	q.mu.Unlock()
	if st == nil {
		return time.Time{}, fmt.Errorf("sqs: extend lease of job %s: %w", l.Job.ID, notify.ErrLeaseLost)
	}

	start := time.Now()
	// received is no earlier than SQS's receipt, so the limit is kept with
	// a second to spare for the call.
	room := (maxVisibility - start.Sub(received) - time.Second).Truncate(time.Second)
	if room < time.Second {
		return time.Time{}, fmt.Errorf("sqs: extend lease of job %s: SQS hides a message for at most %v from its receipt; settle the lease before then", l.Job.ID, maxVisibility)
	}
	vis := min(ceilSecond(d), room)
	_, err = q.client.ChangeMessageVisibility(cctx, &sqs.ChangeMessageVisibilityInput{
		QueueUrl: aws.String(url), ReceiptHandle: aws.String(receipt), VisibilityTimeout: int32(vis / time.Second)})
	if isCode(err, leaseLostCodes...) {
		q.mu.Lock()
		if q.leases[l.Handle] == st {
			delete(q.leases, l.Handle)
		}
		q.mu.Unlock()
		return time.Time{}, fmt.Errorf("sqs: extend lease of job %s: the message was received again: %w", l.Job.ID, notify.ErrLeaseLost)
	}
	if err != nil {
		return time.Time{}, q.callerErr(cctx, fmt.Errorf("sqs: extend lease of job %s: %w", l.Job.ID, err))
	}
	deadline := start.Add(vis)
	q.mu.Lock()
	// A lease settled meanwhile belongs to its settler; leave it alone.
	if q.leases[l.Handle] == st {
		st.deadline = deadline
	}
	q.mu.Unlock()
	return deadline, nil
}

// EnqueueIsIdempotent reports false: a standard queue makes a second
// message of a job enqueued again, and a FIFO queue does so once its
// five-minute deduplication window has passed. The Dispatcher therefore
// never enqueues again the original of a repeated event ID (see
// notify.RepeatEnqueuer).
func (q *Queue) EnqueueIsIdempotent() bool { return false }
