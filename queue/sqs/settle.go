package sqs

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/gonotify/notify"
)

// take ends l's lease in q's books and returns its state, and whether its
// visibility timeout has passed (SQS may have handed the message to another
// receiver: see renew). It returns ErrLeaseLost when q did not hand l out
// or it was already settled.
func (q *Queue) take(l notify.Lease) (st *leaseState, expired bool, err error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed {
		return nil, false, notify.ErrClosed
	}
	st = q.leases[l.Handle]
	if st == nil {
		return nil, false, fmt.Errorf("sqs: job %s: %w", l.Job.ID, notify.ErrLeaseLost)
	}
	delete(q.leases, l.Handle)
	return st, !time.Now().Before(st.deadline), nil
}

// renew checks that an expired lease is still held, by extending it with
// ChangeMessageVisibility: SQS refuses a receipt handle whose message was
// received again since. It returns ErrLeaseLost when the lease is gone.
func (q *Queue) renew(ctx context.Context, st *leaseState) error {
	now := time.Now()
	_, err := q.client.ChangeMessageVisibility(ctx, &sqs.ChangeMessageVisibilityInput{
		QueueUrl: aws.String(st.url), ReceiptHandle: aws.String(st.receipt), VisibilityTimeout: seconds(q.cfg.Visibility)})
	if isCode(err, leaseLostCodes...) {
		return fmt.Errorf("sqs: job %s: lease expired and the job was received again: %w", st.job.ID, notify.ErrLeaseLost)
	}
	if err != nil {
		return fmt.Errorf("sqs: job %s: renew expired lease: %w", st.job.ID, err)
	}
	st.received, st.deadline = now, now.Add(q.cfg.Visibility)
	return nil
}

// untake puts back a lease whose settling failed for a reason other than a
// lost lease, so the caller may try again.
func (q *Queue) untake(st *leaseState) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if !q.closed {
		q.leases[st.receipt] = st
	}
}

// Ack deletes the leased jobs. It returns once the leases are given up in
// this Queue's books; the DeleteMessageBatch calls happen in the
// background, ten receipts per call, at most Config.AckLinger later (sooner
// when ten are pending or a lease is about to expire), and Close waits for
// them. A delete that fails is retried; if it never succeeds the job is
// received again after its visibility timeout (at-least-once). A lease not
// held returns ErrLeaseLost (the others are still acked). A lease past its
// visibility timeout costs one ChangeMessageVisibility call first, which
// tells whether the job was received again meanwhile (ErrLeaseLost).
func (q *Queue) Ack(ctx context.Context, leases ...notify.Lease) error {
	var errs []error
	for _, l := range leases {
		st, expired, err := q.take(l)
		if errors.Is(err, notify.ErrClosed) {
			return err
		}
		if err == nil && expired {
			err = q.renewCaller(ctx, st)
		}
		if err != nil {
			errs = append(errs, err)
			continue
		}
		q.acks.add(st)
	}
	return errors.Join(errs...)
}

// renewCaller is renew under the caller's ctx; a failure other than a lost
// lease puts the lease back.
func (q *Queue) renewCaller(ctx context.Context, st *leaseState) error {
	cctx, done, err := q.begin(ctx)
	if err != nil {
		return err
	}
	defer done()
	if err := q.renew(cctx, st); err != nil {
		if !errors.Is(err, notify.ErrLeaseLost) {
			q.untake(st)
		}
		return q.callerErr(cctx, err)
	}
	return nil
}

// Nack makes the leased job visible again after delay with
// ChangeMessageVisibility. SQS allows at most 12 hours from receipt; a
// longer delay is cut to that.
func (q *Queue) Nack(ctx context.Context, l notify.Lease, delay time.Duration) error {
	ctx, done, err := q.begin(ctx)
	if err != nil {
		return err
	}
	defer done()
	st, _, err := q.take(l)
	if err != nil {
		return err
	}
	delay = min(max(delay, 0), maxVisibility-time.Since(st.received)-time.Second)
	_, err = q.client.ChangeMessageVisibility(ctx, &sqs.ChangeMessageVisibilityInput{
		QueueUrl: aws.String(st.url), ReceiptHandle: aws.String(st.receipt), VisibilityTimeout: seconds(delay)})
	if isCode(err, leaseLostCodes...) {
		return fmt.Errorf("sqs: nack job %s: %w", l.Job.ID, notify.ErrLeaseLost)
	}
	if err != nil {
		q.untake(st)
		return q.callerErr(ctx, fmt.Errorf("sqs: nack job %s: %w", l.Job.ID, err))
	}
	if delay > 0 {
		q.mu.Lock()
		q.hidden[st.msgID] = hiddenMsg{url: st.url, until: time.Now().Add(ceilSecond(delay))}
		q.mu.Unlock()
	}
	return nil
}

// Bury moves the leased job to the queue's dead-letter queue: it sends the
// message there (with reason as the message attribute "notify_reason"),
// then deletes it from the queue. SQS has no verb for this, and a redrive
// policy would move it only after maxReceiveCount more receipts. If the
// process dies between the two calls the job is both dead and received
// again; the Dispatcher's log marks it dead, so the redelivery is acked
// without a send. A queue without a dead-letter queue cannot bury.
func (q *Queue) Bury(ctx context.Context, l notify.Lease, reason string) error {
	ctx, done, err := q.begin(ctx)
	if err != nil {
		return err
	}
	defer done()
	st, expired, err := q.take(l)
	if err != nil {
		return err
	}
	if expired {
		if err := q.renew(ctx, st); err != nil {
			if !errors.Is(err, notify.ErrLeaseLost) {
				q.untake(st)
			}
			return q.callerErr(ctx, err)
		}
	}
	_, dead, err := q.deadURL(ctx, st.queue, true)
	if err == nil && dead == "" {
		err = errors.New("the queue has no dead-letter queue: give it a redrive policy or let Config.CreateQueues create it")
	}
	if err == nil {
		err = q.bury(ctx, st, dead, reason, l.Attempt)
	}
	if err != nil {
		if !errors.Is(err, notify.ErrLeaseLost) {
			q.untake(st)
		}
		return q.callerErr(ctx, fmt.Errorf("sqs: bury job %s: %w", l.Job.ID, err))
	}
	return nil
}

// bury sends st's message to dead, with the reason and the attempts it
// took, then deletes it from its queue.
func (q *Queue) bury(ctx context.Context, st *leaseState, dead, reason string, attempts int) error {
	if len(reason) > 1024 {
		reason = reason[:1024]
	}
	if reason == "" {
		reason = "buried"
	}
	in := &sqs.SendMessageInput{
		QueueUrl: aws.String(dead), MessageBody: aws.String(st.body),
		MessageAttributes: map[string]types.MessageAttributeValue{
			reasonAttr:   {DataType: aws.String("String"), StringValue: aws.String(reason)},
			attemptsAttr: {DataType: aws.String("Number"), StringValue: aws.String(strconv.Itoa(attempts))},
		},
	}
	if q.cfg.FIFO {
		in.MessageGroupId = aws.String(dedupID("j", st.job.ID))
		in.MessageDeduplicationId = aws.String(dedupID("bury", st.msgID))
	}
	if _, err := q.client.SendMessage(ctx, in); err != nil {
		return fmt.Errorf("send to dead-letter queue: %w", err)
	}
	_, err := q.client.DeleteMessage(ctx, &sqs.DeleteMessageInput{QueueUrl: aws.String(st.url), ReceiptHandle: aws.String(st.receipt)})
	if isCode(err, leaseLostCodes...) {
		return fmt.Errorf("delete after copying to the dead-letter queue: %w", notify.ErrLeaseLost)
	}
	if err != nil {
		return fmt.Errorf("delete after copying to the dead-letter queue (the job is dead and will also be received again): %w", err)
	}
	return nil
}

// acker batches deletes: one goroutine flushes them ten at a time.
type acker struct {
	q       *Queue
	mu      sync.Mutex
	pending map[string][]*pendingAck // by queue URL
	busy    map[string]int           // DeleteMessageBatch calls in flight, by queue URL
	idle    *sync.Cond               // signaled (on mu) when a call ends
	kick    chan struct{}
	stop    chan struct{}
	done    chan struct{}
	failed  int // deletes given up on, reported by close
}

type pendingAck struct {
	st      *leaseState
	flushBy time.Time
	tries   int
}

const (
	ackTries   = 5
	ackTimeout = 10 * time.Second
)

func newAcker(q *Queue) *acker {
	a := &acker{q: q, pending: map[string][]*pendingAck{}, busy: map[string]int{}, kick: make(chan struct{}, 1),
		stop: make(chan struct{}), done: make(chan struct{})}
	a.idle = sync.NewCond(&a.mu)
	go a.run()
	return a
}

func (a *acker) add(st *leaseState) {
	now := time.Now()
	by := now
	if a.q.cfg.AckLinger > 0 {
		// Leave a quarter of the lease (up to a second) for the call itself.
		margin := min(a.q.cfg.Visibility/4, time.Second)
		by = now.Add(a.q.cfg.AckLinger)
		if latest := st.deadline.Add(-margin); latest.Before(by) {
			by = latest
		}
	}
	a.mu.Lock()
	a.pending[st.url] = append(a.pending[st.url], &pendingAck{st: st, flushBy: by})
	a.mu.Unlock()
	select {
	case a.kick <- struct{}{}:
	default:
	}
}

func (a *acker) run() {
	defer close(a.done)
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		next := a.flushDue(false)
		wait := time.Hour
		if !next.IsZero() {
			wait = max(time.Until(next), 0)
		}
		timer.Reset(wait)
		select {
		case <-a.kick:
		case <-timer.C:
		case <-a.stop:
			a.flushDue(true)
			return
		}
	}
}

// flushDue deletes every full batch and every batch holding an ack past
// its flushBy (all of them when all is set), and returns when the next
// pending ack falls due (zero when none is pending).
func (a *acker) flushDue(all bool) time.Time {
	for {
		now := time.Now()
		url, batch := a.next(now, all)
		if batch == nil {
			break
		}
		a.delete(url, batch)
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	var next time.Time
	for _, list := range a.pending {
		for _, p := range list {
			if next.IsZero() || p.flushBy.Before(next) {
				next = p.flushBy
			}
		}
	}
	return next
}

// next removes and returns a batch that should be deleted now.
func (a *acker) next(now time.Time, all bool) (string, []*pendingAck) {
	a.mu.Lock()
	defer a.mu.Unlock()
	for url, list := range a.pending {
		due := all || len(list) >= maxBatch
		for _, p := range list {
			due = due || !p.flushBy.After(now)
		}
		if due {
			n := min(len(list), maxBatch)
			batch := list[:n:n]
			if n == len(list) {
				delete(a.pending, url)
			} else {
				a.pending[url] = list[n:]
			}
			a.busy[url]++
			return url, batch
		}
	}
	return "", nil
}

// flush deletes every pending ack of url now, in the caller's goroutine,
// and waits for the deletes of url already in flight.
func (a *acker) flush(url string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	for {
		list := a.pending[url]
		if len(list) == 0 {
			if a.busy[url] == 0 {
				return
			}
			a.idle.Wait()
			continue
		}
		n := min(len(list), maxBatch)
		batch := list[:n:n]
		if n == len(list) {
			delete(a.pending, url)
		} else {
			a.pending[url] = list[n:]
		}
		a.busy[url]++
		a.mu.Unlock()
		a.delete(url, batch)
		a.mu.Lock()
	}
}

// delete calls DeleteMessageBatch and requeues the entries that failed for
// another reason than a lost lease, until they run out of tries.
func (a *acker) delete(url string, batch []*pendingAck) {
	entries := make([]types.DeleteMessageBatchRequestEntry, len(batch))
	for i, p := range batch {
		p.tries++
		entries[i] = types.DeleteMessageBatchRequestEntry{Id: aws.String(strconv.Itoa(i)), ReceiptHandle: aws.String(p.st.receipt)}
	}
	ctx, cancel := context.WithTimeout(context.Background(), ackTimeout)
	defer cancel()
	out, err := a.q.client.DeleteMessageBatch(ctx, &sqs.DeleteMessageBatchInput{QueueUrl: aws.String(url), Entries: entries})
	var retry []*pendingAck
	if err != nil {
		a.q.log.Warn("sqs: delete acked messages; retrying", "queue_url", url, "count", len(batch), "error", err)
		retry = batch
	} else {
		lost := 0
		for _, f := range out.Failed {
			i, err := strconv.Atoi(aws.ToString(f.Id))
			if err != nil || i < 0 || i >= len(batch) {
				continue
			}
			if isLeaseLostCode(aws.ToString(f.Code)) {
				lost++
				continue
			}
			retry = append(retry, batch[i])
		}
		if lost > 0 {
			a.q.log.Debug("sqs: acked messages were already received again", "queue_url", url, "count", lost)
		}
		if len(retry) > 0 {
			a.q.log.Debug("sqs: delete entries failed; retrying", "queue_url", url, "count", len(retry),
				"code", aws.ToString(out.Failed[0].Code))
		}
	}
	now := time.Now()
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.busy[url]--; a.busy[url] == 0 {
		delete(a.busy, url)
	}
	defer a.idle.Broadcast()
	for _, p := range retry {
		if p.tries >= ackTries || !now.Before(p.st.deadline) {
			a.failed++
			a.q.log.Warn("sqs: gave up deleting an acked message; it will be received again", "queue_url", url, "job", p.st.job.ID)
			continue
		}
		p.flushBy = now.Add(time.Duration(p.tries) * 100 * time.Millisecond)
		a.pending[url] = append(a.pending[url], p)
	}
}

func isLeaseLostCode(code string) bool {
	for _, c := range leaseLostCodes {
		if c == code {
			return true
		}
	}
	return false
}

// close flushes everything and stops the goroutine.
func (a *acker) close() error {
	close(a.stop)
	<-a.done
	a.mu.Lock()
	defer a.mu.Unlock()
	n := a.failed
	for _, list := range a.pending {
		n += len(list)
	}
	if n > 0 {
		return fmt.Errorf("sqs: close: %d acked messages could not be deleted and will be received again", n)
	}
	return nil
}
