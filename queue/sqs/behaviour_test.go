package sqs_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awssqs "github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gonotify/notify"
	"github.com/gonotify/notify/notifytest"
	"github.com/gonotify/notify/queue/sqs"
)

func ctxFor(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

func job(queue, id string) notify.Job {
	return notify.Job{ID: id, Queue: queue, Delivery: &notify.Delivery{ID: id, NotificationID: "n-" + id, UserID: "u-" + id,
		Channel: "sms", Address: "+15550100", Message: notify.Message{Body: "hello " + id}}}
}

func receive(t *testing.T, q notify.Queue, queue string, n int, within time.Duration) []notify.Lease {
	t.Helper()
	ctx := ctxFor(t, within)
	var out []notify.Lease
	for len(out) < n {
		ls, err := q.Receive(ctx, queue, n-len(out))
		require.NoError(t, err, "got %d of %d leases", len(out), n)
		out = append(out, ls...)
	}
	return out
}

// receiveSome returns what one Receive of up to n leases gives.
func receiveSome(t *testing.T, q notify.Queue, queue string, n int, within time.Duration) []notify.Lease {
	t.Helper()
	ls, err := q.Receive(ctxFor(t, within), queue, n)
	require.NoError(t, err)
	return ls
}

func queueURL(t *testing.T, queue string, fifo bool) string {
	t.Helper()
	out, err := client(server(t), nil).GetQueueUrl(context.Background(), &awssqs.GetQueueUrlInput{QueueName: aws.String(sqs.Name(queue, fifo))})
	require.NoError(t, err)
	return aws.ToString(out.QueueUrl)
}

// Two processes share a queue: a lease one of them lets expire goes to the
// other, with the attempt counted, and the first can no longer settle it.
func TestVisibilityExpiryRedelivers(t *testing.T) {
	t.Parallel()
	a := newQueue(t, sqs.Config{Visibility: time.Second})
	b := newQueue(t, sqs.Config{Visibility: time.Second})
	name := notifytest.UniqueName(t)
	require.NoError(t, a.Enqueue(ctxFor(t, 5*time.Second), job(name, "x")))
	first := receive(t, a, name, 1, 5*time.Second)[0]
	leased := time.Now()
	require.Equal(t, 1, first.Attempt)

	second := receive(t, b, name, 1, 6*time.Second)[0]
	assert.GreaterOrEqual(t, time.Since(leased), 900*time.Millisecond, "redelivered before the visibility timeout")
	assert.Equal(t, "x", second.Job.ID)
	assert.Equal(t, 2, second.Attempt)
	assert.ErrorIs(t, a.Nack(ctxFor(t, 5*time.Second), first, 0), notify.ErrLeaseLost)

	require.NoError(t, b.Ack(ctxFor(t, 5*time.Second), second))
	st, err := b.Stats(ctxFor(t, 5*time.Second), name)
	require.NoError(t, err)
	assert.Equal(t, notify.QueueStats{}, st)
}

// NotBefore: by DelaySeconds on standard queues, by hiding on receipt on
// FIFO queues and for messages that arrive early (as those scheduled more
// than 15 minutes ahead do once their DelaySeconds has run out). Never
// early; waiting is not an attempt.
func TestNotBeforeNeverEarly(t *testing.T) {
	for _, fifo := range []bool{false, true} {
		t.Run(fmt.Sprintf("fifo=%v", fifo), func(t *testing.T) {
			t.Parallel()
			q := newQueue(t, sqs.Config{FIFO: fifo})
			name := notifytest.UniqueName(t)
			ctx := ctxFor(t, 30*time.Second)
			// "now" first: the queue is created before the clock starts.
			require.NoError(t, q.Enqueue(ctx, job(name, "now")))
			due := time.Now().Add(5 * time.Second)
			j := job(name, "later")
			j.NotBefore = due
			require.NoError(t, q.Enqueue(ctx, j))

			// A message sent behind the Queue's back, as a job scheduled an
			// hour ahead looks after its 15-minute delivery delay.
			raw := job(name, "raw")
			raw.NotBefore = due
			body, err := json.Marshal(map[string]any{"v": 1, "id": raw.ID, "queue": name, "not_before": raw.NotBefore, "delivery": raw.Delivery})
			require.NoError(t, err)
			in := &awssqs.SendMessageInput{QueueUrl: aws.String(queueURL(t, name, fifo)), MessageBody: aws.String(string(body))}
			if fifo {
				in.MessageGroupId, in.MessageDeduplicationId = aws.String("g-raw"), aws.String("raw")
			}
			_, err = client(server(t), nil).SendMessage(ctx, in)
			require.NoError(t, err)

			now := receive(t, q, name, 1, 5*time.Second)
			assert.Equal(t, "now", now[0].Job.ID)
			require.NoError(t, q.Ack(ctx, now...))
			st, err := q.Stats(ctx, name)
			require.NoError(t, err)
			if time.Now().Before(due.Add(-time.Second)) { // else the machine was too slow to tell
				assert.Equal(t, 2, st.Delayed, "scheduled jobs count as delayed: %+v", st)
			}

			got := receive(t, q, name, 2, 15*time.Second)
			assert.False(t, time.Now().Before(due), "handed out %v before NotBefore", time.Until(due))
			for _, l := range got {
				assert.Contains(t, []string{"later", "raw"}, l.Job.ID)
				assert.Equal(t, 1, l.Attempt, "job %s: waiting for NotBefore is not an attempt", l.Job.ID)
			}
			require.NoError(t, q.Ack(ctx, got...))
		})
	}
}

// A batch entry SQS fails is sent (or deleted) again, never dropped, and
// nothing is stored twice.
func TestBatchPartialFailuresRetried(t *testing.T) {
	t.Parallel()
	tr := newTransport()
	every := func(n int) func(string) bool {
		i := 0
		return func(string) bool { i++; return i%n == 0 } // called under tr.mu
	}
	tr.failFirst["SendMessageBatch"] = every(3)
	tr.failFirst["DeleteMessageBatch"] = every(2)
	q := newQueue(t, sqs.Config{Client: client(server(t), tr)})
	name := notifytest.UniqueName(t)
	ctx := ctxFor(t, 30*time.Second)

	const n = 190
	jobs := make([]notify.Job, n)
	for i := range jobs {
		jobs[i] = job(name, fmt.Sprintf("j%03d", i))
	}
	// Half in one call, half in concurrent one-job calls that share batches.
	require.NoError(t, q.Enqueue(ctx, jobs[:n/2]...))
	var wg sync.WaitGroup
	for _, j := range jobs[n/2:] {
		wg.Go(func() { assert.NoError(t, q.Enqueue(ctx, j)) })
	}
	wg.Wait()
	assert.Greater(t, tr.failed["SendMessageBatch"], 20, "the middleware failed too few send entries to test anything")

	seen := map[string]int{}
	for len(seen) < n {
		ls := receiveSome(t, q, name, 10, 10*time.Second)
		for _, l := range ls {
			seen[l.Job.ID]++
		}
		require.NoError(t, q.Ack(ctx, ls...))
	}
	for _, j := range jobs {
		assert.Equal(t, 1, seen[j.ID], "job %s received %d times", j.ID, seen[j.ID])
	}
	st, err := q.Stats(ctx, name)
	require.NoError(t, err)
	assert.Greater(t, tr.failed["DeleteMessageBatch"], 10, "the middleware failed too few delete entries")
	assert.Equal(t, notify.QueueStats{}, st, "every acked message deleted despite failed delete entries")
}

// Enqueue packs at most ten messages and 1 MiB into one call and refuses a
// job that cannot fit in an SQS message.
func TestEnqueueBatches(t *testing.T) {
	t.Parallel()
	tr := newTransport()
	q := newQueue(t, sqs.Config{Client: client(server(t), tr)})
	name := notifytest.UniqueName(t)
	ctx := ctxFor(t, 30*time.Second)
	st, err := q.Stats(ctx, name)
	require.NoError(t, err)
	assert.Equal(t, notify.QueueStats{}, st, "a queue not created yet")
	require.NoError(t, q.Enqueue(ctx, job(name, "warm"))) // creates the queues
	tr.reset()

	jobs := make([]notify.Job, 25)
	for i := range jobs {
		jobs[i] = job(name, fmt.Sprintf("c%02d", i))
	}
	require.NoError(t, q.Enqueue(ctx, jobs...))
	assert.Equal(t, 3, tr.total("SendMessageBatch"), "25 messages take 3 calls: %v", tr)

	tr.reset()
	big := make([]notify.Job, 3)
	for i := range big {
		big[i] = job(name, fmt.Sprintf("big%d", i))
		big[i].Delivery.Message.Body = strings.Repeat("x", 400<<10)
	}
	require.NoError(t, q.Enqueue(ctx, big...))
	assert.Equal(t, 2, tr.total("SendMessageBatch"), "three 400 KiB messages exceed 1 MiB per call: %v", tr)

	tr.reset()
	huge := job(name, "huge")
	huge.Delivery.Message.Body = strings.Repeat("x", 1<<20)
	err = q.Enqueue(ctx, huge)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "1 MiB")
	assert.Zero(t, tr.total(), "nothing sent for a job too large")

	st, err = q.Stats(ctx, name)
	require.NoError(t, err)
	assert.Equal(t, 1+25+3, st.Ready)
}

// A message that is not a notify job goes to the dead-letter queue instead
// of being handed out or blocking the queue.
func TestPoisonMessageDeadLettered(t *testing.T) {
	t.Parallel()
	q := newQueue(t, sqs.Config{})
	name := notifytest.UniqueName(t)
	ctx := ctxFor(t, 20*time.Second)
	require.NoError(t, q.Enqueue(ctx, job(name, "good")))
	_, err := client(server(t), nil).SendMessage(ctx, &awssqs.SendMessageInput{
		QueueUrl: aws.String(queueURL(t, name, false)), MessageBody: aws.String("{not json")})
	require.NoError(t, err)

	ls := receive(t, q, name, 1, 5*time.Second)
	assert.Equal(t, "good", ls[0].Job.ID)
	require.NoError(t, q.Ack(ctx, ls...))
	require.Eventually(t, func() bool {
		st, err := q.Stats(ctx, name)
		return err == nil && st.Dead == 1 && st.Ready == 0 && st.InFlight == 0
	}, 5*time.Second, 50*time.Millisecond, "the poison message must end in the dead-letter queue")
}

// FIFO: one user's jobs come out in the order they went in.
func TestFIFOOrderPerUser(t *testing.T) {
	t.Parallel()
	q := newQueue(t, sqs.Config{FIFO: true})
	name := notifytest.UniqueName(t)
	ctx := ctxFor(t, 30*time.Second)
	var jobs []notify.Job
	for i := range 30 {
		j := job(name, fmt.Sprintf("o%02d", i))
		j.Delivery.UserID = fmt.Sprintf("user%d", i%3)
		jobs = append(jobs, j)
	}
	require.NoError(t, q.Enqueue(ctx, jobs...))
	last := map[string]string{}
	for got := 0; got < len(jobs); {
		ls := receiveSome(t, q, name, 4, 10*time.Second)
		for _, l := range ls {
			u := l.Job.Delivery.UserID
			assert.Greater(t, l.Job.ID, last[u], "user %s: %s after %s", u, l.Job.ID, last[u])
			last[u] = l.Job.ID
		}
		got += len(ls)
		require.NoError(t, q.Ack(ctx, ls...))
	}
}

// Queues listed in Config.QueueURLs are used as they are; a missing queue
// is an error without CreateQueues; Bury needs a dead-letter queue.
func TestExplicitQueueURLs(t *testing.T) {
	t.Parallel()
	c := client(server(t), nil)
	ctx := ctxFor(t, 20*time.Second)
	plain := notifytest.UniqueName(t)
	out, err := c.CreateQueue(ctx, &awssqs.CreateQueueInput{QueueName: aws.String("own-" + plain)})
	require.NoError(t, err)
	q, err := sqs.New(ctx, sqs.Config{Client: c, QueueURLs: map[string]string{"notify.sms": aws.ToString(out.QueueUrl)}})
	require.NoError(t, err)
	t.Cleanup(func() { _ = q.Close() })

	require.NoError(t, q.Enqueue(ctx, job("notify.sms", "mapped")))
	l := receive(t, q, "notify.sms", 1, 5*time.Second)[0]
	assert.Equal(t, "notify.sms", l.Job.Queue)
	err = q.Bury(ctx, l, "x")
	require.Error(t, err, "no dead-letter queue to bury into")
	assert.Contains(t, err.Error(), "dead-letter")
	require.NoError(t, q.Ack(ctx, l), "a failed Bury leaves the lease held")

	err = q.Enqueue(ctx, job(plain+"-missing", "x"))
	require.Error(t, err, "a missing queue without CreateQueues")
	assert.Contains(t, err.Error(), "CreateQueues")
	assert.ErrorIs(t, q.Replay(ctx, "notify.sms", "mapped"), notify.ErrNotFound)
}

// With no Client, New builds one from the default AWS configuration chain,
// here environment variables, pointed at Config.Endpoint.
func TestDefaultConfigChain(t *testing.T) {
	endpoint := server(t)
	t.Setenv("AWS_ACCESS_KEY_ID", "test")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "test")
	t.Setenv("AWS_REGION", "eu-west-1")
	t.Setenv("AWS_CONFIG_FILE", t.TempDir()+"/none")
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", t.TempDir()+"/none")
	ctx := ctxFor(t, 20*time.Second)
	q, err := sqs.New(ctx, sqs.Config{Endpoint: endpoint, CreateQueues: true})
	require.NoError(t, err)
	defer q.Close()
	name := notifytest.UniqueName(t)
	require.NoError(t, q.Enqueue(ctx, job(name, "env")))
	l := receive(t, q, name, 1, 5*time.Second)[0]
	assert.Equal(t, "env", l.Job.ID)
	require.NoError(t, q.Ack(ctx, l))
	require.NoError(t, q.Close())
	assert.ErrorIs(t, q.Close(), notify.ErrClosed)
}

// A nack delay longer than SQS allows (12 hours from receipt) is cut to
// the limit instead of failing.
func TestNackLongDelay(t *testing.T) {
	t.Parallel()
	q := newQueue(t, sqs.Config{})
	name := notifytest.UniqueName(t)
	ctx := ctxFor(t, 20*time.Second)
	require.NoError(t, q.Enqueue(ctx, job(name, "later")))
	l := receive(t, q, name, 1, 5*time.Second)[0]
	require.NoError(t, q.Nack(ctx, l, 48*time.Hour))
	st, err := q.Stats(ctx, name)
	require.NoError(t, err)
	assert.Equal(t, notify.QueueStats{Delayed: 1}, st)
}
