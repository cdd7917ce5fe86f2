package notifytest

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"time"

	"github.com/gonotify/notify"
)

// Channel is a fake notify.Channel that records every call and whose
// outcomes a test scripts. Build one with NewChannel, script it with
// OnSend, FailFirst, FailRate and Latency (each returns the Channel, so they
// chain), hand it to a notify.Dispatcher, then inspect it with Sent, Calls,
// SentCount and WaitSent.
//
// By default every Send succeeds with ProviderID "<name>-<n>". A Send is
// decided, in order, by: the context (done: an Uncertain error); the OnSend
// function when one is set (nothing else applies then); FailFirst; FailRate;
// success.
//
// A Channel is safe for concurrent use, and its scripting may be changed
// while sends are in flight.
type Channel struct {
	name string

	mu        sync.Mutex
	onSend    func(d *notify.Delivery) (notify.Result, error)
	failFirst int
	firstErr  error
	failRate  float64
	rateErr   error
	rng       *rand.Rand
	latency   time.Duration

	seq     int
	calls   []Call
	sent    []notify.Delivery
	callsBy map[string]int
	sentBy  map[string]int
	changed chan struct{} // closed when sent grows; nil while nobody waits
}

var _ notify.Channel = (*Channel)(nil)

// Call is one recorded call of Channel.Send.
type Call struct {
	// Delivery is a shallow copy of what Send received, Attempt included.
	Delivery notify.Delivery
	Result   notify.Result
	Err      error
	At       time.Time
}

// ErrScripted is the error a Channel returns for a scripted failure when
// the script gave none. It is wrapped with notify.Retryable.
var ErrScripted = errors.New("notifytest: scripted failure")

// NewChannel returns a Channel named name (its queue is named after it)
// whose sends all succeed until scripted otherwise. FailRate draws from a
// generator seeded with 1; see Seed.
func NewChannel(name string) *Channel {
	return &Channel{
		name:    name,
		rng:     rand.New(rand.NewPCG(1, 1)),
		callsBy: make(map[string]int),
		sentBy:  make(map[string]int),
	}
}

// Name returns the channel's name.
func (c *Channel) Name() string { return c.name }

// OnSend makes f decide every Send: its result and error are returned as
// they are (use notify.Retryable, notify.Permanent and the like to classify
// the error). A nil error counts the delivery as sent. f may be called from
// many goroutines at once. OnSend(nil) goes back to the other scripting.
func (c *Channel) OnSend(f func(d *notify.Delivery) (notify.Result, error)) *Channel {
	c.mu.Lock()
	c.onSend = f
	c.mu.Unlock()
	return c
}

// FailFirst makes the first n calls for every delivery ID fail with err (nil
// means notify.Retryable(ErrScripted, 0)); later calls for that delivery go
// on to FailRate and success.
func (c *Channel) FailFirst(n int, err error) *Channel {
	if err == nil {
		err = notify.Retryable(ErrScripted, 0)
	}
	c.mu.Lock()
	c.failFirst, c.firstErr = n, err
	c.mu.Unlock()
	return c
}

// FailRate makes each call fail with probability p (0 to 1) with err (nil
// means notify.Retryable(ErrScripted, 0)). The draws come from a seeded
// generator (see Seed): one goroutine sending the same deliveries sees the
// same failures on every run.
func (c *Channel) FailRate(p float64, err error) *Channel {
	if err == nil {
		err = notify.Retryable(ErrScripted, 0)
	}
	c.mu.Lock()
	c.failRate, c.rateErr = p, err
	c.mu.Unlock()
	return c
}

// Seed reseeds FailRate's generator.
func (c *Channel) Seed(seed uint64) *Channel {
	c.mu.Lock()
	c.rng = rand.New(rand.NewPCG(seed, seed))
	c.mu.Unlock()
	return c
}

// Latency makes every Send take d, or until its context is done.
func (c *Channel) Latency(d time.Duration) *Channel {
	c.mu.Lock()
	c.latency = d
	c.mu.Unlock()
	return c
}

// Send records the call and returns the scripted outcome.
func (c *Channel) Send(ctx context.Context, d *notify.Delivery) (notify.Result, error) {
	c.mu.Lock()
	latency, onSend := c.latency, c.onSend
	c.mu.Unlock()

	var err error
	if latency > 0 {
		t := time.NewTimer(latency)
		select {
		case <-ctx.Done():
			err = notify.Uncertain(fmt.Errorf("notifytest: send %s: %w", d.ID, ctx.Err()))
		case <-t.C:
		}
		t.Stop()
	} else if ctx.Err() != nil {
		err = notify.Uncertain(fmt.Errorf("notifytest: send %s: %w", d.ID, ctx.Err()))
	}

	var res notify.Result
	if err == nil && onSend != nil {
		res, err = onSend(d)
	}

	c.mu.Lock()
	defer c.mu.Unlock()
	c.callsBy[d.ID]++
	if err == nil && onSend == nil {
		switch {
		case c.callsBy[d.ID] <= c.failFirst:
			err = c.firstErr
		case c.failRate > 0 && c.rng.Float64() < c.failRate:
			err = c.rateErr
		default:
			c.seq++
			res = notify.Result{ProviderID: fmt.Sprintf("%s-%d", c.name, c.seq)}
		}
	}
	c.calls = append(c.calls, Call{Delivery: *d, Result: res, Err: err, At: time.Now()})
	if err == nil {
		c.sent = append(c.sent, *d)
		c.sentBy[d.ID]++
		if c.changed != nil {
			close(c.changed)
			c.changed = nil
		}
	}
	return res, err
}

// Sent returns shallow copies of the deliveries sent successfully, in the
// order they were sent; a delivery sent twice appears twice.
func (c *Channel) Sent() []notify.Delivery {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.sent)
}

// Calls returns every call of Send so far, failed ones included, in order.
func (c *Channel) Calls() []Call {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.calls)
}

// CallCount returns how many times Send was called for deliveryID.
func (c *Channel) CallCount(deliveryID string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.callsBy[deliveryID]
}

// SentCount returns how many times deliveryID was sent successfully: 1 is
// right, 2 or more is a duplicate.
func (c *Channel) SentCount(deliveryID string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.sentBy[deliveryID]
}

// Duplicates returns the IDs of deliveries sent successfully more than
// once, sorted.
func (c *Channel) Duplicates() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []string
	for id, n := range c.sentBy {
		if n > 1 {
			out = append(out, id)
		}
	}
	slices.Sort(out)
	return out
}

// WaitSent waits until at least n successful sends have been recorded, or
// returns ctx's error wrapped with how many there were.
func (c *Channel) WaitSent(ctx context.Context, n int) error {
	for {
		c.mu.Lock()
		have := len(c.sent)
		if have >= n {
			c.mu.Unlock()
			return nil
		}
		if c.changed == nil {
			c.changed = make(chan struct{})
		}
		changed := c.changed
		c.mu.Unlock()
		select {
		case <-ctx.Done():
			return fmt.Errorf("notifytest: channel %s: waiting for %d sends, have %d: %w", c.name, n, have, ctx.Err())
		case <-changed:
		}
	}
}

// Reset forgets every recorded call and send; the scripting stays.
func (c *Channel) Reset() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.calls, c.sent = nil, nil
	clear(c.callsBy)
	clear(c.sentBy)
}

// WithMaxBytes returns a view of c that also implements notify.Validator:
// it rejects, at accept time, a delivery whose message content (every text
// field and the data keys and values together) is over n bytes, or whose
// Address is empty. Sends through the view are recorded in c.
func (c *Channel) WithMaxBytes(n int) *ValidatingChannel {
	return &ValidatingChannel{Channel: c, MaxBytes: n}
}

// ValidatingChannel is a Channel that validates deliveries at accept time;
// see Channel.WithMaxBytes. Safe for concurrent use.
type ValidatingChannel struct {
	*Channel
	// MaxBytes bounds a message's content; zero means no bound.
	MaxBytes int
}

var _ notify.Validator = (*ValidatingChannel)(nil)

// Validate rejects a delivery with no address or with more than MaxBytes
// of content.
func (v *ValidatingChannel) Validate(d *notify.Delivery) error {
	if d.Address == "" {
		return errors.New("notifytest: empty address")
	}
	if v.MaxBytes <= 0 {
		return nil
	}
	m := &d.Message
	size := len(m.Title) + len(m.Subtitle) + len(m.Body) + len(m.Subject) + len(m.Text) + len(m.HTML)
	for k, val := range m.Data {
		size += len(k) + len(val)
	}
	if size > v.MaxBytes {
		return fmt.Errorf("notifytest: message is %d bytes, over the channel's limit of %d", size, v.MaxBytes)
	}
	return nil
}

// Batching returns a view of c that also implements notify.BatchSender:
// SendBatch calls Send for each delivery in turn and records the batch's
// size (see BatchingChannel.Batches). Sends through the view are recorded
// in c.
func (c *Channel) Batching() *BatchingChannel {
	return &BatchingChannel{Channel: c}
}

// BatchingChannel is a Channel that accepts batches; see Channel.Batching.
// Safe for concurrent use.
type BatchingChannel struct {
	*Channel
	bmu     sync.Mutex
	batches []int
}

var _ notify.BatchSender = (*BatchingChannel)(nil)

// SendBatch sends each delivery with Send; results[i] and errs[i] answer
// ds[i].
func (b *BatchingChannel) SendBatch(ctx context.Context, ds []*notify.Delivery) ([]notify.Result, []error) {
	b.bmu.Lock()
	b.batches = append(b.batches, len(ds))
	b.bmu.Unlock()
	results := make([]notify.Result, len(ds))
	errs := make([]error, len(ds))
	for i, d := range ds {
		results[i], errs[i] = b.Send(ctx, d)
	}
	return results, errs
}

// Batches returns the size of every batch SendBatch received, in order.
func (b *BatchingChannel) Batches() []int {
	b.bmu.Lock()
	defer b.bmu.Unlock()
	return slices.Clone(b.batches)
}
