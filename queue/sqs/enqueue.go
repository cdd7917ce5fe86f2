package sqs

import (
	"context"
	"encoding/json"
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

// envelope is a job as a message body.
type envelope struct {
	V         int              `json:"v"`
	ID        string           `json:"id"`
	Queue     string           `json:"queue"`
	NotBefore time.Time        `json:"not_before,omitzero"`
	Delivery  *notify.Delivery `json:"delivery"`
}

const envelopeVersion = 1

func encode(j notify.Job) (string, error) {
	b, err := json.Marshal(envelope{V: envelopeVersion, ID: j.ID, Queue: j.Queue, NotBefore: j.NotBefore, Delivery: j.Delivery})
	if err != nil {
		return "", fmt.Errorf("encode job %s: %w", j.ID, err)
	}
	return string(b), nil
}

func decode(body string) (notify.Job, error) {
	var e envelope
	if err := json.Unmarshal([]byte(body), &e); err != nil {
		return notify.Job{}, fmt.Errorf("decode message body: %w", err)
	}
	if e.V != envelopeVersion || e.ID == "" {
		return notify.Job{}, fmt.Errorf("decode message body: not a notify job (version %d, id %q)", e.V, e.ID)
	}
	return notify.Job{ID: e.ID, Queue: e.Queue, NotBefore: e.NotBefore, Delivery: e.Delivery}, nil
}

// group is a job's FIFO message group: its user, so one user's
// notifications stay in order; the job itself when it has no user or is
// scheduled (a hidden scheduled job would hold up the user's group).
func group(j notify.Job, now time.Time) string {
	if j.Delivery != nil && j.Delivery.UserID != "" && !j.NotBefore.After(now) {
		return dedupID("u", j.Delivery.UserID)
	}
	return dedupID("j", j.ID)
}

// outgoing is one message to send.
type outgoing struct {
	id      string // job ID, for errors
	entry   types.SendMessageBatchRequestEntry
	size    int
	tries   int
	lastErr string
	stored  bool  // SQS confirmed it
	err     error // why it will not be stored
	call    *call // the Enqueue it belongs to, on the shared path
}

// Enqueue stores jobs with SendMessageBatch, ten messages and at most 1 MiB
// per call, grouped by queue. An entry SQS fails is sent again (up to
// Config.MaxSendAttempts times, backing off) and never dropped: a nil error
// means SQS stored every job. A job whose NotBefore is at most 15 minutes
// away is sent with that delay; a later one (and any on a FIFO queue, which
// has no per-message delay) is hidden again when received early.
//
// A job ID repeated within one call is sent once. On FIFO queues SQS also
// drops a job whose ID was sent in the last 5 minutes; standard queues
// cannot tell, so enqueueing an ID again in another call stores a second
// copy there (see the package documentation).
func (q *Queue) Enqueue(ctx context.Context, jobs ...notify.Job) error {
	ctx, done, err := q.begin(ctx)
	if err != nil {
		return err
	}
	defer done()
	now := time.Now()
	byQueue := map[string][]*outgoing{}
	var order []string
	seen := map[[2]string]bool{}
	for _, j := range jobs {
		if j.ID == "" || j.Queue == "" {
			return fmt.Errorf("sqs: enqueue: job needs an ID and a Queue (got ID %q, Queue %q)", j.ID, j.Queue)
		}
		if seen[[2]string{j.Queue, j.ID}] {
			continue
		}
		seen[[2]string{j.Queue, j.ID}] = true
		body, err := encode(j)
		if err != nil {
			return fmt.Errorf("sqs: enqueue: %w", err)
		}
		if len(body) > maxPayload {
			return fmt.Errorf("sqs: enqueue job %s: %d bytes encoded, more than SQS's 1 MiB per message; shorten the delivery's content", j.ID, len(body))
		}
		o := &outgoing{id: j.ID, size: len(body), entry: types.SendMessageBatchRequestEntry{MessageBody: aws.String(body)}}
		if q.cfg.FIFO {
			o.entry.MessageGroupId = aws.String(group(j, now))
			o.entry.MessageDeduplicationId = aws.String(dedupID(j.ID))
		} else if wait := j.NotBefore.Sub(now); wait > 0 {
			o.entry.DelaySeconds = seconds(min(wait, maxDelay))
		}
		if _, ok := byQueue[j.Queue]; !ok {
			order = append(order, j.Queue)
		}
		byQueue[j.Queue] = append(byQueue[j.Queue], o)
	}
	var errs []error
	for _, name := range order {
		url, err := q.url(ctx, name, true)
		if err == nil {
			msgs := byQueue[name]
			if len(msgs) < maxBatch {
				err = q.sender(url).enqueue(ctx, msgs)
			} else {
				err = q.send(ctx, url, msgs)
			}
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("sqs: enqueue to %s: %w", name, q.callerErr(ctx, err)))
		}
	}
	return errors.Join(errs...)
}

// sender gathers the messages of concurrent small Enqueue calls on one
// queue into shared SendMessageBatch calls (group commit): while
// Config.SendConcurrency calls are in flight, new messages wait and go out
// together in the next one. A lone caller waits for nothing but its own
// call.
type sender struct {
	q       *Queue
	url     string
	mu      sync.Mutex
	waiting []*outgoing
	active  int
}

// call is one Enqueue's share of a sender's work.
type call struct {
	pending int
	err     error
	done    chan struct{}
}

func (q *Queue) sender(url string) *sender {
	q.mu.Lock()
	defer q.mu.Unlock()
	s := q.senders[url]
	if s == nil {
		s = &sender{q: q, url: url}
		q.senders[url] = s
	}
	return s
}

// enqueue hands msgs to the sender and waits until SQS stored them, one
// failed for good, or ctx ends (then they may still be stored).
func (s *sender) enqueue(ctx context.Context, msgs []*outgoing) error {
	c := &call{pending: len(msgs), done: make(chan struct{})}
	s.mu.Lock()
	for _, o := range msgs {
		o.call = c
	}
	s.waiting = append(s.waiting, msgs...)
	if s.active < s.q.cfg.SendConcurrency && s.q.spawn(s.run) {
		s.active++
	}
	s.mu.Unlock()
	select {
	case <-c.done:
		return c.err
	case <-s.q.ctx.Done():
		return notify.ErrClosed
	case <-ctx.Done():
		return fmt.Errorf("%d messages not confirmed (they may still be stored): %w", len(msgs), ctx.Err())
	}
}

// run sends what is waiting, a batch at a time, until nothing is.
func (s *sender) run() {
	for {
		s.mu.Lock()
		n, size := 0, 0
		for n < len(s.waiting) && n < maxBatch && size+s.waiting[n].size <= maxPayload {
			size += s.waiting[n].size
			n++
		}
		if n == 0 {
			s.active--
			s.mu.Unlock()
			return
		}
		batch := s.waiting[:n:n]
		s.waiting = s.waiting[n:]
		s.mu.Unlock()

		ctx, cancel := context.WithTimeout(s.q.ctx, sendTimeout)
		err := s.q.send(ctx, s.url, batch)
		cancel()
		for _, o := range batch {
			c := o.call
			if c.err == nil {
				switch {
				case o.err != nil:
					c.err = o.err
				case !o.stored && err != nil:
					c.err = err
				}
			}
			c.pending--
			if c.pending == 0 {
				close(c.done)
			}
		}
	}
}

// send sends msgs to url in batches until every one is stored, a failure
// is not worth retrying, or a message ran out of attempts.
func (q *Queue) send(ctx context.Context, url string, msgs []*outgoing) error {
	backoff := 50 * time.Millisecond
	var permanent []error
	for len(msgs) > 0 {
		var retry []*outgoing
		for len(msgs) > 0 {
			n, size := 0, 0
			for n < len(msgs) && n < maxBatch && size+msgs[n].size <= maxPayload {
				size += msgs[n].size
				n++
			}
			batch := msgs[:n]
			msgs = msgs[n:]
			entries := make([]types.SendMessageBatchRequestEntry, n)
			for i, o := range batch {
				o.tries++
				entries[i] = o.entry
				entries[i].Id = aws.String(strconv.Itoa(i))
			}
			out, err := q.client.SendMessageBatch(ctx, &sqs.SendMessageBatchInput{QueueUrl: aws.String(url), Entries: entries})
			if err != nil {
				// The SDK has retried the call itself; some entries may be stored.
				return fmt.Errorf("send message batch (%d messages not confirmed; enqueueing them again may duplicate some): %w", n+len(msgs)+len(retry), err)
			}
			ok := make([]bool, n)
			for _, o := range batch {
				o.lastErr = "missing from SQS's reply"
			}
			for _, s := range out.Successful {
				if i, err := strconv.Atoi(aws.ToString(s.Id)); err == nil && i >= 0 && i < n {
					ok[i] = true
					batch[i].stored = true
				}
			}
			for _, f := range out.Failed {
				i, err := strconv.Atoi(aws.ToString(f.Id))
				if err != nil || i < 0 || i >= n {
					continue
				}
				o := batch[i]
				if f.SenderFault && !retryableCode(aws.ToString(f.Code)) {
					ok[i] = true // not to be retried; reported
					o.err = fmt.Errorf("job %s rejected: %s: %s", o.id, aws.ToString(f.Code), aws.ToString(f.Message))
					permanent = append(permanent, o.err)
					continue
				}
				o.lastErr = aws.ToString(f.Code) + ": " + aws.ToString(f.Message)
			}
			// An entry that failed or is in neither list is not stored:
			// send it again.
			for i, o := range batch {
				switch {
				case ok[i]:
				case o.tries >= q.cfg.MaxSendAttempts:
					o.err = fmt.Errorf("job %s not stored after %d attempts: %s", o.id, o.tries, o.lastErr)
					permanent = append(permanent, o.err)
				default:
					retry = append(retry, o)
				}
			}
		}
		if len(retry) == 0 {
			break
		}
		q.log.DebugContext(ctx, "sqs: retrying failed batch entries", "queue_url", url, "count", len(retry))
		select {
		case <-time.After(backoff):
		case <-ctx.Done():
			return fmt.Errorf("%d messages not stored: %w", len(retry), ctx.Err())
		}
		backoff = min(backoff*2, 2*time.Second)
		msgs = retry
	}
	return errors.Join(permanent...)
}

// retryableCode reports whether a batch entry that failed with code may
// succeed when sent again, even though SQS blamed the sender.
func retryableCode(code string) bool {
	switch code {
	case "ThrottlingException", "RequestThrottled", "KmsThrottled", "InternalError", "ServiceUnavailable",
		"KmsDisabled", "KmsUnavailable", "InternalFailure":
		return true
	}
	return false
}
