package sqs

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/gonotify/notify"
)

var _ notify.DeadLister = (*Queue)(nil)

// Listing dead letters: SQS cannot sort or page a queue, so Dead reads the
// whole dead-letter queue (hidden for deadHold while it reads, then made
// visible again) and sorts what it read.
const (
	deadHold    = time.Minute
	maxDeadScan = 10_000 // dead letters read per Dead call at most
)

// Dead lists the dead jobs of dq.Queue that dq selects, newest first (by
// when they were buried: the dead letter's SentTimestamp). SQS cannot look
// a queue up by anything, so every call reads the whole dead-letter queue,
// ten messages a request, up to 10,000 dead letters (beyond that the
// listing covers the first 10,000 read): an operator's call. While it reads,
// the dead letters are hidden from other readers (another Dead, a Replay)
// for up to a minute. A message SQS itself moved there (its redrive policy's
// maxReceiveCount) has no reason of ours: its Reason says so, and its
// Attempts is its receive count.
func (q *Queue) Dead(ctx context.Context, dq notify.DeadQuery) (notify.DeadPage, error) {
	cur, err := notify.ParsePageCursor(dq.Cursor)
	if err != nil {
		return notify.DeadPage{}, fmt.Errorf("sqs: dead jobs of %s: %w", dq.Queue, err)
	}
	ctx, done, err := q.begin(ctx)
	if err != nil {
		return notify.DeadPage{}, err
	}
	defer done()
	_, dead, err := q.deadURL(ctx, dq.Queue, false)
	if errors.Is(err, errNoQueue) || (err == nil && dead == "") {
		return notify.DeadPage{}, nil
	}
	if err != nil {
		return notify.DeadPage{}, q.callerErr(ctx, fmt.Errorf("sqs: dead jobs of %s: %w", dq.Queue, err))
	}
	all, err := q.readDead(ctx, dq.Queue, dead)
	if err != nil {
		return notify.DeadPage{}, q.callerErr(ctx, err)
	}
	var out []notify.DeadJob
	for _, j := range all {
		if dq.Matches(j.Reason, j.DiedAt) && (dq.Cursor == "" || cur.After(j.DiedAt, j.Job.ID)) {
			out = append(out, j)
		}
	}
	slices.SortFunc(out, func(a, b notify.DeadJob) int {
		if c := b.DiedAt.Compare(a.DiedAt); c != 0 {
			return c
		}
		return strings.Compare(b.Job.ID, a.Job.ID)
	})
	page := notify.DeadPage{Jobs: out}
	if limit := dq.PageLimit(); len(out) > limit {
		page.Jobs = out[:limit:limit]
		last := page.Jobs[limit-1]
		page.Next = notify.PageCursor{At: last.DiedAt, ID: last.Job.ID}.String()
	}
	return page, nil
}

// readDead reads every dead letter of the dead-letter queue at url once
// (up to maxDeadScan), then makes them visible again. A job found twice
// (a Bury repeated after a lost reply) is listed once.
func (q *Queue) readDead(ctx context.Context, queue, url string) (jobs []notify.DeadJob, err error) {
	var held []types.ChangeMessageVisibilityBatchRequestEntry
	defer func() { q.releaseDead(ctx, queue, url, held) }()
	seen := map[string]bool{}
	byID := map[string]int{}
	confirmed := false
	for len(seen) < maxDeadScan {
		in := &sqs.ReceiveMessageInput{QueueUrl: aws.String(url), MaxNumberOfMessages: maxBatch,
			VisibilityTimeout:           int32(deadHold / time.Second),
			MessageAttributeNames:       []string{reasonAttr, attemptsAttr},
			MessageSystemAttributeNames: []types.MessageSystemAttributeName{types.MessageSystemAttributeNameSentTimestamp, types.MessageSystemAttributeNameApproximateReceiveCount},
		}
		if confirmed {
			in.WaitTimeSeconds = 1 // a long poll asks every SQS server, not a sample
		}
		if q.cfg.FIFO {
			in.ReceiveRequestAttemptId = aws.String(randomID())
		}
		out, err := q.client.ReceiveMessage(ctx, in)
		if err != nil {
			return nil, fmt.Errorf("sqs: dead jobs of %s: read dead letters: %w", queue, err)
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
			held = append(held, types.ChangeMessageVisibilityBatchRequestEntry{ReceiptHandle: m.ReceiptHandle, VisibilityTimeout: 0})
			mid := aws.ToString(m.MessageId)
			cycle = cycle || seen[mid]
			seen[mid] = true
			dj, ok := deadJob(queue, m)
			if !ok {
				continue
			}
			if i, dup := byID[dj.Job.ID]; dup {
				if dj.DiedAt.After(jobs[i].DiedAt) {
					jobs[i] = dj
				}
				continue
			}
			byID[dj.Job.ID] = len(jobs)
			jobs = append(jobs, dj)
		}
		if cycle {
			break
		}
	}
	return jobs, nil
}

// deadJob reads a dead letter; false for a body that is not a notify job.
func deadJob(queue string, m types.Message) (notify.DeadJob, bool) {
	j, err := decode(aws.ToString(m.Body))
	if err != nil {
		return notify.DeadJob{}, false
	}
	j.Queue = queue
	dj := notify.DeadJob{Job: j}
	if ms, err := strconv.ParseInt(m.Attributes[string(types.MessageSystemAttributeNameSentTimestamp)], 10, 64); err == nil {
		dj.DiedAt = time.UnixMilli(ms)
	}
	if a, ok := m.MessageAttributes[reasonAttr]; ok {
		dj.Reason = aws.ToString(a.StringValue)
	} else {
		dj.Reason = "moved by the queue's redrive policy (maxReceiveCount)"
	}
	if a, ok := m.MessageAttributes[attemptsAttr]; ok {
		dj.Attempts, _ = strconv.Atoi(aws.ToString(a.StringValue))
	} else {
		dj.Attempts, _ = strconv.Atoi(m.Attributes[attrReceiveCount])
	}
	return dj, true
}

// releaseDead makes the dead letters a listing or a replay looked through
// visible again, ten a request; a failure is logged (they come back when
// their hold ends).
func (q *Queue) releaseDead(ctx context.Context, queue, url string, held []types.ChangeMessageVisibilityBatchRequestEntry) {
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), ackTimeout)
	defer cancel()
	for len(held) > 0 {
		n := min(len(held), maxBatch)
		for i := range n {
			held[i].Id = aws.String(strconv.Itoa(i))
		}
		if _, err := q.client.ChangeMessageVisibilityBatch(rctx, &sqs.ChangeMessageVisibilityBatchInput{
			QueueUrl: aws.String(url), Entries: held[:n]}); err != nil {
			q.log.WarnContext(ctx, "sqs: release dead letters", "queue", queue, "error", err)
		}
		held = held[n:]
	}
}
