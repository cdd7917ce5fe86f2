package sqs

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/gonotify/notify"
)

// leaseState is what Queue remembers of a lease it handed out, until it is
// acked, nacked or buried.
type leaseState struct {
	queue    string // notify queue name
	url      string
	msgID    string
	receipt  string
	body     string
	job      notify.Job
	received time.Time // when SQS handed the message out, or a little earlier
	deadline time.Time // received + visibility: the lease is surely held until then
}

// Receive leases up to limit jobs (at most ten, the SQS limit) from queue.
// It blocks until a job is ready, ctx ends (ctx's error) or the Queue is
// closed (ErrClosed). Each lease lasts Config.Visibility from the moment
// SQS handed the message out; Lease.Deadline is that moment as this
// process estimates it (the start of the ReceiveMessage call, or a second
// before its reply when the call waited for a message) plus Config.Visibility.
// Lease.Handle is the SQS receipt handle;
// Lease.Attempt is the message's ApproximateReceiveCount, less the receipts
// that only found it early (before its NotBefore) or that this Queue
// received but never handed out.
//
// One long poll per queue at a time runs in the background (ReceiveMessage,
// ten messages, Config.WaitTime); every Receive on that queue waits for it
// and takes from what it brought, so a Receive that gives up (ctx ends)
// loses nothing: what the poll brings waits for the next Receive. Messages
// held that way for more than half the visibility timeout are made visible
// again. A message that is not a notify job is moved to the dead-letter
// queue.
func (q *Queue) Receive(ctx context.Context, queue string, limit int) ([]notify.Lease, error) {
	cctx, done, err := q.begin(ctx)
	if err != nil {
		return nil, err
	}
	defer done()
	limit = min(max(limit, 1), maxBatch)
	url, err := q.url(cctx, queue, true)
	if err != nil {
		return nil, q.callerErr(ctx, fmt.Errorf("sqs: receive from %s: %w", queue, err))
	}
	q.prune()
	p := q.poller(url)
	for {
		p.mu.Lock()
		leases, stale := p.take(limit, time.Now(), q.cfg.Visibility)
		var wait chan struct{}
		if len(leases) == 0 {
			if !p.polling {
				p.polling, p.done, p.err = true, make(chan struct{}), nil
				if !q.spawn(func() { q.poll(p, queue, url) }) {
					p.polling = false
					p.mu.Unlock()
					return nil, notify.ErrClosed
				}
			}
			wait = p.done
		}
		p.mu.Unlock()
		q.release(url, stale)
		if len(leases) > 0 {
			out := make([]notify.Lease, len(leases))
			q.mu.Lock()
			for i, h := range leases {
				q.leases[h.st.receipt] = h.st
				out[i] = notify.Lease{Job: h.st.job, Attempt: h.attempt, Handle: h.st.receipt, Deadline: h.st.deadline}
			}
			q.mu.Unlock()
			return out, nil
		}
		select {
		case <-wait:
			p.mu.Lock()
			err := p.err
			p.mu.Unlock()
			if err != nil {
				return nil, q.callerErr(ctx, fmt.Errorf("sqs: receive from %s: %w", queue, err))
			}
		case <-cctx.Done():
			return nil, q.callerErr(ctx, cctx.Err())
		}
	}
}

// poller runs one queue's long polls and holds what they brought until a
// Receive takes it.
type poller struct {
	mu      sync.Mutex
	stash   []held
	polling bool
	done    chan struct{} // closed when the current poll ends
	err     error         // the last poll's error
}

// held is a received message not yet handed out.
type held struct {
	st      *leaseState
	attempt int
}

// take removes up to limit held messages with at least half the
// visibility timeout left, and returns the rest that are stale.
func (p *poller) take(limit int, now time.Time, vis time.Duration) (fresh, stale []held) {
	keep := p.stash[:0]
	for _, h := range p.stash {
		switch {
		case h.st.deadline.Sub(now) < vis/2:
			stale = append(stale, h)
		case len(fresh) < limit:
			fresh = append(fresh, h)
		default:
			keep = append(keep, h)
		}
	}
	clear(p.stash[len(keep):])
	p.stash = keep
	return fresh, stale
}

func (q *Queue) poller(url string) *poller {
	q.mu.Lock()
	defer q.mu.Unlock()
	p := q.pollers[url]
	if p == nil {
		p = &poller{}
		q.pollers[url] = p
	}
	return p
}

// poll makes one ReceiveMessage call and stashes what it brings.
func (q *Queue) poll(p *poller, queue, url string) {
	in := &sqs.ReceiveMessageInput{
		QueueUrl:            aws.String(url),
		MaxNumberOfMessages: maxBatch,
		WaitTimeSeconds:     int32(q.cfg.WaitTime / time.Second),
		VisibilityTimeout:   int32(q.cfg.Visibility / time.Second),
		MessageSystemAttributeNames: []types.MessageSystemAttributeName{
			types.MessageSystemAttributeNameApproximateReceiveCount,
			types.MessageSystemAttributeNameApproximateFirstReceiveTimestamp,
		},
	}
	if q.cfg.FIFO {
		in.ReceiveRequestAttemptId = aws.String(randomID())
	}
	start := time.Now()
	out, err := q.client.ReceiveMessage(q.ctx, in)
	var got []held
	if err == nil {
		// SQS started the visibility timeout when it handed the messages
		// out: at once when they were waiting, else the moment they
		// arrived, and a long poll returns right then. Count from the
		// start of the call unless it waited; then from just before its end.
		handed := start
		if end := time.Now(); end.Sub(start) > time.Second {
			handed = end.Add(-time.Second)
		}
		got = q.accept(q.ctx, queue, url, out.Messages, handed)
	}
	if q.log.Enabled(q.ctx, slog.LevelDebug) {
		ids := make([]string, len(got))
		for i, h := range got {
			ids[i] = h.st.job.ID
		}
		q.log.Debug("sqs: poll", "queue", queue, "jobs", ids, "error", err, "took", time.Since(start))
	}
	p.mu.Lock()
	p.stash = append(p.stash, got...)
	p.err = err
	p.polling = false
	close(p.done)
	closed := q.ctx.Err() != nil
	var orphans []held
	if closed {
		orphans, p.stash = p.stash, nil
	}
	p.mu.Unlock()
	if err != nil && q.ctx.Err() == nil {
		// Do not spin on a failing endpoint: the next poll waits a little.
		select {
		case <-time.After(100 * time.Millisecond):
		case <-q.ctx.Done():
		}
	}
	q.release(url, orphans)
}

// release makes held messages visible again, remembering that their
// receipt was not an attempt.
func (q *Queue) release(url string, hs []held) {
	if len(hs) == 0 {
		return
	}
	q.log.Debug("sqs: release", "queue_url", url, "messages", len(hs))
	q.mu.Lock()
	for _, h := range hs {
		q.uncounted[h.st.msgID] = uncounted{n: q.uncounted[h.st.msgID].n + 1, at: time.Now()}
	}
	q.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), ackTimeout)
	defer cancel()
	for len(hs) > 0 {
		n := min(len(hs), maxBatch)
		entries := make([]types.ChangeMessageVisibilityBatchRequestEntry, n)
		for i, h := range hs[:n] {
			entries[i] = types.ChangeMessageVisibilityBatchRequestEntry{Id: aws.String(strconv.Itoa(i)), ReceiptHandle: aws.String(h.st.receipt)}
		}
		if _, err := q.client.ChangeMessageVisibilityBatch(ctx, &sqs.ChangeMessageVisibilityBatchInput{QueueUrl: aws.String(url), Entries: entries}); err != nil {
			q.log.Warn("sqs: release messages received but not handed out; they come back after the visibility timeout", "queue_url", url, "error", err)
		}
		hs = hs[n:]
	}
}

// accept turns received messages into leases, hiding again those that are
// not due yet and dead-lettering those that are not jobs.
func (q *Queue) accept(ctx context.Context, queue, url string, msgs []types.Message, start time.Time) []held {
	now := time.Now()
	var leases []held
	var hide []types.ChangeMessageVisibilityBatchRequestEntry
	for _, m := range msgs {
		msgID, receipt, body := aws.ToString(m.MessageId), aws.ToString(m.ReceiptHandle), aws.ToString(m.Body)
		job, err := decode(body)
		if err != nil {
			q.poison(ctx, queue, url, m, err)
			continue
		}
		job.Queue = queue
		if wait := job.NotBefore.Sub(now); wait > 0 {
			until := min(wait, maxVisibility-time.Second)
			hide = append(hide, types.ChangeMessageVisibilityBatchRequestEntry{
				Id: aws.String(strconv.Itoa(len(hide))), ReceiptHandle: m.ReceiptHandle, VisibilityTimeout: seconds(until)})
			q.mu.Lock()
			q.hidden[msgID] = hiddenMsg{url: url, until: now.Add(ceilSecond(until))}
			q.mu.Unlock()
			continue
		}
		count, _ := strconv.Atoi(m.Attributes[attrReceiveCount])
		first, _ := strconv.ParseInt(m.Attributes[attrFirstReceive], 10, 64)
		st := &leaseState{queue: queue, url: url, msgID: msgID, receipt: receipt, body: body, job: job,
			received: start, deadline: start.Add(q.cfg.Visibility)}
		q.mu.Lock()
		delete(q.hidden, msgID)
		skip := q.uncounted[msgID].n
		delete(q.uncounted, msgID)
		q.mu.Unlock()
		attempt := max(count-skip-earlyReceipts(job.NotBefore, time.UnixMilli(first)), 1)
		leases = append(leases, held{st: st, attempt: attempt})
	}
	if len(hide) > 0 {
		out, err := q.client.ChangeMessageVisibilityBatch(ctx, &sqs.ChangeMessageVisibilityBatchInput{QueueUrl: aws.String(url), Entries: hide})
		if err == nil && len(out.Failed) > 0 {
			err = fmt.Errorf("%d entries failed, first: %s", len(out.Failed), aws.ToString(out.Failed[0].Code))
		}
		if err != nil {
			// They come back after the visibility timeout and are hidden again.
			q.log.WarnContext(ctx, "sqs: hide jobs received before their NotBefore", "queue", queue, "error", err)
		}
	}
	return leases
}

// earlyReceipts estimates how many receipts of a message found it before
// notBefore and hid it again: each hides it for at most 12 hours from a
// first receipt at first.
func earlyReceipts(notBefore, first time.Time) int {
	if notBefore.IsZero() || !first.Before(notBefore) {
		return 0
	}
	gap := notBefore.Sub(first)
	return int((gap + maxVisibility - time.Second - 1) / (maxVisibility - time.Second))
}

// poison moves a message that is not a notify job to the dead-letter queue.
func (q *Queue) poison(ctx context.Context, queue, url string, m types.Message, cause error) {
	log := q.log.With("queue", queue, "message_id", aws.ToString(m.MessageId))
	_, dead, err := q.deadURL(ctx, queue, false)
	if err != nil || dead == "" {
		log.ErrorContext(ctx, "sqs: a message that is not a notify job stays on the queue: it has no dead-letter queue",
			"cause", cause, "error", err)
		return
	}
	st := &leaseState{queue: queue, url: url, msgID: aws.ToString(m.MessageId), receipt: aws.ToString(m.ReceiptHandle),
		body: aws.ToString(m.Body), job: notify.Job{ID: aws.ToString(m.MessageId)}}
	if err := q.bury(ctx, st, dead, "not a notify job: "+cause.Error(), 1); err != nil {
		log.ErrorContext(ctx, "sqs: move a message that is not a notify job to the dead-letter queue", "error", err)
		return
	}
	log.WarnContext(ctx, "sqs: moved a message that is not a notify job to the dead-letter queue", "cause", cause)
}

// prune forgets leases long expired (their holder never settled them) and
// hidden messages that are due, at most once a minute.
func (q *Queue) prune() {
	now := time.Now()
	q.mu.Lock()
	defer q.mu.Unlock()
	if now.Sub(q.lastPrune) < time.Minute {
		return
	}
	q.lastPrune = now
	for r, st := range q.leases {
		if now.After(st.deadline.Add(time.Minute)) {
			delete(q.leases, r)
		}
	}
	for id, h := range q.hidden {
		if now.After(h.until) {
			delete(q.hidden, id)
		}
	}
	for id, u := range q.uncounted {
		if now.Sub(u.at) > time.Hour {
			delete(q.uncounted, id)
		}
	}
}

func randomID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // never fails
	return hex.EncodeToString(b[:])
}
