package sqs

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/gonotify/notify"
)

// Stats reads the queue's and its dead-letter queue's approximate counts
// with GetQueueAttributes, after deleting this Queue's pending acks for it.
// Ready is ApproximateNumberOfMessages, Delayed is
// ApproximateNumberOfMessagesDelayed, InFlight is
// ApproximateNumberOfMessagesNotVisible and Dead counts every message in the
// dead-letter queue. Messages this Queue nacked with a delay or hid until
// their NotBefore are counted as Delayed rather than InFlight (SQS cannot
// tell them apart from leased ones; those nacked by other processes stay in
// InFlight), and messages this Queue received but has not handed out yet
// count as Ready. SQS's counts are approximate and lag by up to a minute on
// busy queues. OldestReady is not known (zero). A queue that does not
// exist has zero stats.
func (q *Queue) Stats(ctx context.Context, queue string) (notify.QueueStats, error) {
	ctx, done, err := q.begin(ctx)
	if err != nil {
		return notify.QueueStats{}, err
	}
	defer done()
	main, dead, err := q.deadURL(ctx, queue, false)
	if errors.Is(err, errNoQueue) {
		return notify.QueueStats{}, nil
	}
	if err != nil {
		return notify.QueueStats{}, q.callerErr(ctx, fmt.Errorf("sqs: stats of %s: %w", queue, err))
	}
	q.acks.flush(main)
	counts, err := q.counts(ctx, main)
	if err != nil {
		return notify.QueueStats{}, q.callerErr(ctx, fmt.Errorf("sqs: stats of %s: %w", queue, err))
	}
	st := notify.QueueStats{Ready: counts[0], InFlight: counts[1], Delayed: counts[2]}
	if dead != "" {
		dc, err := q.counts(ctx, dead)
		if err != nil {
			return notify.QueueStats{}, q.callerErr(ctx, fmt.Errorf("sqs: stats of %s's dead-letter queue: %w", queue, err))
		}
		st.Dead = dc[0] + dc[1] + dc[2]
	}
	p := q.poller(main)
	p.mu.Lock()
	stashed := min(len(p.stash), st.InFlight)
	p.mu.Unlock()
	st.Ready += stashed
	st.InFlight -= stashed
	now := time.Now()
	hidden := 0
	q.mu.Lock()
	for id, h := range q.hidden {
		switch {
		case !now.Before(h.until):
			delete(q.hidden, id)
		case h.url == main:
			hidden++
		}
	}
	q.mu.Unlock()
	hidden = min(hidden, st.InFlight)
	st.InFlight -= hidden
	st.Delayed += hidden
	return st, nil
}

// counts returns a queue's visible, not visible and delayed messages.
func (q *Queue) counts(ctx context.Context, url string) ([3]int, error) {
	names := []types.QueueAttributeName{
		types.QueueAttributeNameApproximateNumberOfMessages,
		types.QueueAttributeNameApproximateNumberOfMessagesNotVisible,
		types.QueueAttributeNameApproximateNumberOfMessagesDelayed,
	}
	out, err := q.client.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: aws.String(url), AttributeNames: names})
	if err != nil {
		return [3]int{}, err
	}
	var c [3]int
	for i, n := range names {
		c[i], _ = strconv.Atoi(out.Attributes[string(n)])
	}
	return c, nil
}

// replayHold is how long Replay keeps the dead letters it looks through
// hidden, so one scan sees each once.
const replayHold = 5 * time.Minute

// Replay moves the dead job id of queue back to the queue as a new message
// (so its receive count starts again) and deletes it from the dead-letter
// queue. SQS cannot look a message up by content, so Replay receives the
// dead-letter queue's messages until it finds the job, then makes the others
// visible again: it costs about one request per ten dead letters, and
// dead letters another process is looking through at the same moment are
// not seen. It returns ErrNotFound when no dead job has that ID (or the
// queue or its dead-letter queue does not exist).
func (q *Queue) Replay(ctx context.Context, queue, id string) error {
	ctx, done, err := q.begin(ctx)
	if err != nil {
		return err
	}
	defer done()
	main, dead, err := q.deadURL(ctx, queue, false)
	if errors.Is(err, errNoQueue) || (err == nil && dead == "") {
		return fmt.Errorf("sqs: replay job %s of %s: %w", id, queue, notify.ErrNotFound)
	}
	if err != nil {
		return q.callerErr(ctx, fmt.Errorf("sqs: replay job %s of %s: %w", id, queue, err))
	}
	err = q.replay(ctx, queue, main, dead, id)
	return q.callerErr(ctx, err)
}

func (q *Queue) replay(ctx context.Context, queue, main, dead, id string) (err error) {
	var others []types.ChangeMessageVisibilityBatchRequestEntry
	defer func() { q.releaseDead(ctx, queue, dead, others) }() // the dead letters looked through
	seen := map[string]bool{}
	var found []types.Message
	confirmed := false
	for {
		in := &sqs.ReceiveMessageInput{QueueUrl: aws.String(dead), MaxNumberOfMessages: maxBatch,
			VisibilityTimeout: int32(replayHold / time.Second)}
		if confirmed {
			in.WaitTimeSeconds = 1 // a long poll asks every SQS server, not a sample
		}
		if q.cfg.FIFO {
			in.ReceiveRequestAttemptId = aws.String(randomID())
		}
		out, err := q.client.ReceiveMessage(ctx, in)
		if err != nil {
			return fmt.Errorf("sqs: replay job %s of %s: look through dead letters: %w", id, queue, err)
		}
		if len(out.Messages) == 0 {
			if confirmed {
				break
			}
			confirmed = true
			continue
		}
		cycle := false
		for _, m := range out.Messages {
			mid := aws.ToString(m.MessageId)
			cycle = cycle || seen[mid]
			seen[mid] = true
			if j, err := decode(aws.ToString(m.Body)); err == nil && j.ID == id {
				found = append(found, m)
				continue
			}
			others = append(others, types.ChangeMessageVisibilityBatchRequestEntry{ReceiptHandle: m.ReceiptHandle, VisibilityTimeout: 0})
		}
		if len(found) > 0 || cycle {
			break
		}
	}
	if len(found) == 0 {
		return fmt.Errorf("sqs: replay job %s of %s: %w", id, queue, notify.ErrNotFound)
	}
	m := found[0]
	body := aws.ToString(m.Body)
	in := &sqs.SendMessageInput{QueueUrl: aws.String(main), MessageBody: aws.String(body)}
	if q.cfg.FIFO {
		j, _ := decode(body)
		in.MessageGroupId = aws.String(group(j, time.Now()))
		in.MessageDeduplicationId = aws.String(dedupID("replay", aws.ToString(m.MessageId)))
	}
	if _, err := q.client.SendMessage(ctx, in); err != nil {
		others = append(others, types.ChangeMessageVisibilityBatchRequestEntry{ReceiptHandle: m.ReceiptHandle})
		return fmt.Errorf("sqs: replay job %s of %s: send: %w", id, queue, err)
	}
	// Every copy of the job in the dead-letter queue goes: one is live now.
	for _, m := range found {
		if _, err := q.client.DeleteMessage(ctx, &sqs.DeleteMessageInput{QueueUrl: aws.String(dead), ReceiptHandle: m.ReceiptHandle}); err != nil {
			return fmt.Errorf("sqs: replay job %s of %s: sent again, but its dead letter stays (replaying it again would duplicate it): %w", id, queue, err)
		}
	}
	return nil
}
