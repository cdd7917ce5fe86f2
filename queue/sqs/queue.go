package sqs

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/aws/smithy-go"

	"github.com/gonotify/notify"
)

// SQS limits this package works within.
const (
	maxBatch         = 10                     // entries per *Batch call
	maxPayload       = 1 << 20                // bytes per message and per SendMessageBatch call
	maxDelay         = 15 * time.Minute       // DelaySeconds
	maxVisibility    = 12 * time.Hour         // VisibilityTimeout, from receipt
	maxWait          = 20 * time.Second       // WaitTimeSeconds
	maxRetention     = 14 * 24 * time.Hour    // MessageRetentionPeriod
	maxReceiveCount  = 1000                   // RedrivePolicy maxReceiveCount
	maxNameLen       = 80                     // queue name, ".fifo" included
	deadSuffix       = "-dead"                // dead-letter queue name suffix
	fifoSuffix       = ".fifo"                // FIFO queue name suffix
	defaultLinger    = 100 * time.Millisecond // Config.AckLinger
	defaultVis       = 30 * time.Second       // Config.Visibility
	defaultSendTries = 8                      // Config.MaxSendAttempts
	sendTimeout      = 30 * time.Second       // one shared send, retries included
	reasonAttr       = "notify_reason"        // message attribute Bury sets
	attemptsAttr     = "notify_attempts"      // message attribute Bury sets: the lease's Attempt
	attrReceiveCount = "ApproximateReceiveCount"
	attrFirstReceive = "ApproximateFirstReceiveTimestamp"
)

// Config configures a Queue. Zero values mean the documented defaults.
type Config struct {
	// Client is the SQS client to use. Nil builds one from the default AWS
	// configuration chain (environment, shared config and credentials
	// files, SSO, web identity, ECS/EC2 roles) with Region and Endpoint
	// applied.
	Client *sqs.Client
	// Region overrides the region of the default chain (Client nil only).
	Region string
	// Endpoint overrides the SQS endpoint, for a local server such as
	// fauxqs ("http://127.0.0.1:59324"). Client nil only.
	Endpoint string

	// QueueURLs maps notify queue names ("notify.sms") to SQS queue URLs.
	// A queue not listed is looked up by its SQS name (see [Name]) and, when
	// CreateQueues is set, created on first use.
	QueueURLs map[string]string
	// CreateQueues creates missing queues on first use, each with a
	// dead-letter queue (its name plus "-dead") wired in by a redrive
	// policy, 14 days' retention and Visibility as the default visibility
	// timeout. Without it a missing queue is an error (Stats reports zeros).
	CreateQueues bool
	// FIFO selects FIFO queues: names get the ".fifo" suffix, messages of
	// one user share a message group (delivered in order), and a job's ID is
	// its deduplication ID. See the package documentation for the limits.
	FIFO bool

	// Visibility is the lease: how long a received job stays hidden before
	// it is handed out again. Whole seconds, 1s to 12h. Default 30s.
	Visibility time.Duration
	// WaitTime is the long-polling wait of one ReceiveMessage call; Receive
	// keeps polling until a job arrives or its context ends. 1s to 20s.
	// Default 20s.
	WaitTime time.Duration
	// AckLinger is how long an Ack may wait to be batched with others into
	// one DeleteMessageBatch call. Acks are flushed sooner when ten are
	// pending, when a lease would otherwise expire, by Stats and by Close.
	// Default 100ms; negative flushes every Ack at once (still in the
	// background).
	AckLinger time.Duration
	// MaxReceiveCount is the redrive policy's maxReceiveCount on queues
	// this package creates: a message received that many times without
	// being deleted goes to the dead-letter queue. Default 1000 (the SQS
	// maximum), leaving the decision to the Dispatcher's retry policy.
	MaxReceiveCount int
	// SendConcurrency bounds the SendMessageBatch calls in flight per queue
	// for Enqueue calls of fewer than ten jobs; while that many are in
	// flight, the jobs of further calls wait and share the next call (up to
	// ten messages). Default 4.
	SendConcurrency int
	// MaxSendAttempts bounds how often one message whose batch entry failed
	// is sent again before Enqueue gives up and returns an error. Default 8.
	MaxSendAttempts int

	// Logger receives warnings about background work (failed deletes).
	// Default slog.Default().
	Logger *slog.Logger
}

func (c Config) withDefaults() Config {
	if c.Visibility <= 0 {
		c.Visibility = defaultVis
	}
	c.Visibility = min(max(ceilSecond(c.Visibility), time.Second), maxVisibility)
	if c.WaitTime <= 0 {
		c.WaitTime = maxWait
	}
	c.WaitTime = min(max(ceilSecond(c.WaitTime), time.Second), maxWait)
	if c.AckLinger == 0 {
		c.AckLinger = defaultLinger
	}
	if c.MaxReceiveCount <= 0 || c.MaxReceiveCount > maxReceiveCount {
		c.MaxReceiveCount = maxReceiveCount
	}
	if c.SendConcurrency <= 0 {
		c.SendConcurrency = 4
	}
	if c.MaxSendAttempts <= 0 {
		c.MaxSendAttempts = defaultSendTries
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return c
}

// Queue is a notify.Queue on Amazon SQS. It is safe for concurrent use.
// Create one with New and Close it when done: Close flushes pending acks.
type Queue struct {
	cfg    Config
	client *sqs.Client
	log    *slog.Logger

	// ctx ends when Close is called; every call to SQS runs under it too.
	ctx    context.Context
	cancel context.CancelFunc

	mu     sync.Mutex
	closed bool
	urls   map[string]*queueInfo // by notify queue name
	leases map[string]*leaseState
	// hidden holds, per SQS message ID, until when a message this Queue
	// nacked with a delay or hid for its NotBefore stays hidden: SQS counts
	// those as in flight, Stats reports them as delayed.
	hidden map[string]hiddenMsg
	// uncounted holds, per SQS message ID, receipts this Queue made but
	// never handed out; Attempt leaves them out.
	uncounted map[string]uncounted
	pollers   map[string]*poller // by queue URL
	senders   map[string]*sender // by queue URL
	lastPrune time.Time

	acks *acker
	wg   sync.WaitGroup // polls and shared sends in flight
}

// queueInfo is what Queue knows about one SQS queue.
type queueInfo struct {
	once    sync.Mutex // held while resolving
	url     string
	dead    string
	deadArn string
	deadOK  bool // dead resolved (dead may still be "": no redrive policy)
}

type uncounted struct {
	n  int
	at time.Time
}

type hiddenMsg struct {
	url   string
	until time.Time
}

// New returns a Queue on SQS. With cfg.Client nil it loads the default AWS
// configuration, which is why it takes a context; it makes no SQS call.
func New(ctx context.Context, cfg Config) (*Queue, error) {
	cfg = cfg.withDefaults()
	client := cfg.Client
	if client == nil {
		var opts []func(*config.LoadOptions) error
		if cfg.Region != "" {
			opts = append(opts, config.WithRegion(cfg.Region))
		}
		awsCfg, err := config.LoadDefaultConfig(ctx, opts...)
		if err != nil {
			return nil, fmt.Errorf("sqs: load AWS configuration (set AWS_REGION and credentials, or pass Config.Client): %w", err)
		}
		client = sqs.NewFromConfig(awsCfg, func(o *sqs.Options) {
			if cfg.Endpoint != "" {
				o.BaseEndpoint = aws.String(cfg.Endpoint)
			}
		})
	}
	qctx, cancel := context.WithCancel(context.Background())
	q := &Queue{
		cfg:    cfg,
		client: client,
		log:    cfg.Logger,
		ctx:    qctx,
		cancel: cancel,
		urls:   map[string]*queueInfo{},
		leases: map[string]*leaseState{},
		hidden: map[string]hiddenMsg{},

		uncounted: map[string]uncounted{},
		pollers:   map[string]*poller{},
		senders:   map[string]*sender{},
	}
	for name, url := range cfg.QueueURLs {
		q.urls[name] = &queueInfo{url: url}
	}
	q.acks = newAcker(q)
	return q, nil
}

// Close flushes pending acks (waiting up to 10 seconds for SQS), makes
// messages received but not handed out visible again, makes
// blocked Receives return ErrClosed and every later call return ErrClosed.
// A long poll in progress is abandoned: a message SQS handed to it stays
// hidden for one visibility timeout. A second Close returns ErrClosed.
func (q *Queue) Close() error {
	q.mu.Lock()
	if q.closed {
		q.mu.Unlock()
		return notify.ErrClosed
	}
	q.closed = true
	q.mu.Unlock()
	q.cancel()
	q.wg.Wait() // the calls in flight end at once: their context is done
	err := q.acks.close()
	q.mu.Lock()
	pollers := q.pollers
	q.mu.Unlock()
	for url, p := range pollers {
		p.mu.Lock()
		hs := p.stash
		p.stash = nil
		p.mu.Unlock()
		q.release(url, hs)
	}
	return err
}

// spawn runs f in a goroutine that Close waits for, unless q is closed.
func (q *Queue) spawn(f func()) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed {
		return false
	}
	q.wg.Go(f)
	return true
}

// Name returns the SQS queue name used for the notify queue name: every
// character other than ASCII letters, digits, '-' and '_' becomes '-'
// ("notify.sms" becomes "notify-sms"), a name too long for SQS is cut and
// given a hash of the full name, and FIFO names end in ".fifo". Its
// dead-letter queue has "-dead" before the ".fifo".
func Name(queue string, fifo bool) string { return sqsName(queue, "", fifo) }

func sqsName(queue, suffix string, fifo bool) string {
	var b strings.Builder
	for _, r := range queue {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-', r == '_':
			b.WriteRune(r)
		default:
			b.WriteByte('-')
		}
	}
	name := b.String()
	if name == "" {
		name = "-"
	}
	room := maxNameLen - len(deadSuffix) - len(fifoSuffix)
	if len(name) > room {
		sum := sha256.Sum256([]byte(queue))
		name = name[:room-9] + "-" + hex.EncodeToString(sum[:4])
	}
	name += suffix
	if fifo {
		name += fifoSuffix
	}
	return name
}

// begin returns a context that ends with ctx or when q is closed, or
// ErrClosed when q is already closed.
func (q *Queue) begin(ctx context.Context) (context.Context, context.CancelFunc, error) {
	q.mu.Lock()
	closed := q.closed
	q.mu.Unlock()
	if closed {
		return nil, nil, notify.ErrClosed
	}
	if err := ctx.Err(); err != nil {
		return nil, nil, err
	}
	c, cancel := context.WithCancel(ctx)
	stop := context.AfterFunc(q.ctx, cancel)
	return c, func() { stop(); cancel() }, nil
}

// callerErr turns an error from a call made under ctx (from begin) into
// what the caller should see: ErrClosed when Close interrupted it, ctx's
// error (the caller's, which begin's context carries) when ctx ended, err
// otherwise.
func (q *Queue) callerErr(ctx context.Context, err error) error {
	if err == nil {
		return nil
	}
	if q.ctx.Err() != nil {
		return notify.ErrClosed
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return err
}

func (q *Queue) info(name string) *queueInfo {
	q.mu.Lock()
	defer q.mu.Unlock()
	qi := q.urls[name]
	if qi == nil {
		qi = &queueInfo{}
		q.urls[name] = qi
	}
	return qi
}

// errNoQueue reports a queue that does not exist and may not be created.
var errNoQueue = errors.New("queue does not exist")

// url returns the SQS URL of the notify queue name. With create it creates
// a missing queue when Config.CreateQueues allows; without it a missing
// queue returns errNoQueue (wrapped).
func (q *Queue) url(ctx context.Context, name string, create bool) (string, error) {
	qi := q.info(name)
	qi.once.Lock()
	defer qi.once.Unlock()
	if qi.url != "" {
		return qi.url, nil
	}
	sqsName := Name(name, q.cfg.FIFO)
	out, err := q.client.GetQueueUrl(ctx, &sqs.GetQueueUrlInput{QueueName: aws.String(sqsName)})
	if err == nil {
		qi.url = aws.ToString(out.QueueUrl)
		return qi.url, nil
	}
	if !isCode(err, "QueueDoesNotExist", "AWS.SimpleQueueService.NonExistentQueue") {
		return "", fmt.Errorf("look up sqs queue %s: %w", sqsName, err)
	}
	if !create || !q.cfg.CreateQueues {
		return "", fmt.Errorf("sqs queue %s for %q: %w (create it with a redrive policy, list it in Config.QueueURLs, or set Config.CreateQueues)", sqsName, name, errNoQueue)
	}
	if err := q.create(ctx, name, qi); err != nil {
		return "", err
	}
	return qi.url, nil
}

// create makes the dead-letter queue, then the queue with a redrive policy
// pointing at it. Both calls are idempotent when the attributes match.
func (q *Queue) create(ctx context.Context, name string, qi *queueInfo) error {
	attrs := map[string]string{
		string(types.QueueAttributeNameMessageRetentionPeriod): strconv.Itoa(int(maxRetention / time.Second)),
		string(types.QueueAttributeNameVisibilityTimeout):      strconv.Itoa(int(q.cfg.Visibility / time.Second)),
	}
	if q.cfg.FIFO {
		attrs[string(types.QueueAttributeNameFifoQueue)] = "true"
	}
	deadName := sqsName(name, deadSuffix, q.cfg.FIFO)
	dead, err := q.client.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String(deadName), Attributes: attrs})
	if err != nil {
		return fmt.Errorf("create sqs dead-letter queue %s: %w", deadName, err)
	}
	da, err := q.client.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{
		QueueUrl: dead.QueueUrl, AttributeNames: []types.QueueAttributeName{types.QueueAttributeNameQueueArn}})
	if err != nil {
		return fmt.Errorf("read arn of sqs queue %s: %w", deadName, err)
	}
	arn := da.Attributes[string(types.QueueAttributeNameQueueArn)]
	redrive, _ := json.Marshal(map[string]any{"deadLetterTargetArn": arn, "maxReceiveCount": q.cfg.MaxReceiveCount})
	main := make(map[string]string, len(attrs)+1)
	for k, v := range attrs {
		main[k] = v
	}
	main[string(types.QueueAttributeNameRedrivePolicy)] = string(redrive)
	sqsName := Name(name, q.cfg.FIFO)
	out, err := q.client.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String(sqsName), Attributes: main})
	if err != nil {
		return fmt.Errorf("create sqs queue %s: %w", sqsName, err)
	}
	qi.url = aws.ToString(out.QueueUrl)
	qi.dead, qi.deadArn, qi.deadOK = aws.ToString(dead.QueueUrl), arn, true
	return nil
}

// deadURL returns the URL of the dead-letter queue of the notify queue
// name, read from its redrive policy; "" when it has none.
func (q *Queue) deadURL(ctx context.Context, name string, create bool) (main, dead string, err error) {
	main, err = q.url(ctx, name, create)
	if err != nil {
		return "", "", err
	}
	qi := q.info(name)
	qi.once.Lock()
	defer qi.once.Unlock()
	if qi.deadOK {
		return main, qi.dead, nil
	}
	out, err := q.client.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{
		QueueUrl: aws.String(main), AttributeNames: []types.QueueAttributeName{types.QueueAttributeNameRedrivePolicy}})
	if err != nil {
		return "", "", fmt.Errorf("read redrive policy of %s: %w", main, err)
	}
	var policy struct {
		Target string `json:"deadLetterTargetArn"`
	}
	if raw := out.Attributes[string(types.QueueAttributeNameRedrivePolicy)]; raw != "" {
		if err := json.Unmarshal([]byte(raw), &policy); err != nil {
			return "", "", fmt.Errorf("parse redrive policy of %s: %w", main, err)
		}
	}
	if policy.Target != "" {
		// arn:aws:sqs:region:account:name
		parts := strings.Split(policy.Target, ":")
		if len(parts) < 6 {
			return "", "", fmt.Errorf("redrive policy of %s: malformed deadLetterTargetArn %q", main, policy.Target)
		}
		u, err := q.client.GetQueueUrl(ctx, &sqs.GetQueueUrlInput{
			QueueName: aws.String(parts[5]), QueueOwnerAWSAccountId: aws.String(parts[4])})
		if err != nil {
			return "", "", fmt.Errorf("look up dead-letter queue %s: %w", parts[5], err)
		}
		qi.dead = aws.ToString(u.QueueUrl)
	}
	qi.deadArn, qi.deadOK = policy.Target, true
	return main, qi.dead, nil
}

// isCode reports whether err is an SQS API error with one of codes. fauxqs
// and older SQS endpoints send the legacy "AWS.SimpleQueueService.*" codes.
func isCode(err error, codes ...string) bool {
	var ae smithy.APIError
	if !errors.As(err, &ae) {
		return false
	}
	c := ae.ErrorCode()
	for _, want := range codes {
		if c == want {
			return true
		}
	}
	return false
}

// leaseLostCodes are the errors SQS returns for a receipt handle that no
// longer holds its message.
var leaseLostCodes = []string{
	"ReceiptHandleIsInvalid", "MessageNotInflight",
	"AWS.SimpleQueueService.MessageNotInflight", "AWS.SimpleQueueService.ReceiptHandleIsInvalid",
	"InvalidParameterValue.ReceiptHandleIsInvalid",
}

func ceilSecond(d time.Duration) time.Duration {
	return (d + time.Second - 1) / time.Second * time.Second
}

func seconds(d time.Duration) int32 { return int32(ceilSecond(d) / time.Second) }

// dedupID makes an SQS deduplication ID (at most 128 characters of
// [!-~]) from parts.
func dedupID(parts ...string) string {
	s := strings.Join(parts, ":")
	ok := len(s) <= 128
	for i := 0; ok && i < len(s); i++ {
		ok = s[i] >= '!' && s[i] <= '~'
	}
	if ok {
		return s
	}
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}
