package notify

import (
	"context"
	"time"
)

// Channel delivers to one provider. Implementations must be safe for
// concurrent use: the Dispatcher calls Send from many workers at once.
type Channel interface {
	// Name is the channel's name ("apns", "fcm", "sms", "email"); it also
	// names the channel's queue.
	Name() string
	// Send hands d to the provider. A nil error means the provider accepted
	// it. Any error should be classified with Retryable, Permanent,
	// InvalidRecipient, OptedOut or ConfigError; an unclassified error is
	// treated as retryable. d is lent for the call: Send reads it and must
	// not change it (the Dispatcher logs the outcome from it, and its maps
	// and slices are shared with the queued job and other deliveries),
	// nor keep it or use it from another goroutine once it has returned:
	// the Dispatcher reuses it for the next delivery.
	Send(ctx context.Context, d *Delivery) (Result, error)
}

// Validator is implemented by channels that can reject a delivery at accept
// time, before anything is stored or queued (payload too large, malformed
// token or phone number). Send calls Validate for every delivery after
// rendering; an error becomes a *ValidationError.
type Validator interface {
	Validate(d *Delivery) error
}

// AddressNormalizer is implemented by channels whose addresses have
// several written forms (channel/sms: "(415) 555-0100" and "+14155550100";
// channel/email: "Ann@Example.COM" and "Ann@example.com"). NormalizeAddress
// returns address in its one normal form, the form the Dispatcher stores,
// de-duplicates on and sends to, or an error saying why address is not one
// (a *ValidationError's Reason is used as it is; any other error's text
// becomes the Reason).
//
// PutContact, NormalizeContact, RegisterDevice, RefreshDevice and Send
// call it on every address of the channel before its Validator, so that
// PutContact rejects exactly what Send would. NormalizeAddress must be
// idempotent (normalizing a normal form returns it unchanged), cheap,
// deterministic and safe for concurrent use, and must not do I/O.
type AddressNormalizer interface {
	NormalizeAddress(address string) (string, error)
}

// BatchSender is implemented by channels whose provider accepts many messages
// in one call (FCM SendEach). When a worker holds several deliveries for such
// a channel it calls SendBatch once; results[i] and errs[i] answer ds[i] and
// are classified one by one, exactly as Send's would be. Like Send's, the
// Deliveries are lent for the call only, to be read and not changed.
type BatchSender interface {
	SendBatch(ctx context.Context, ds []*Delivery) (results []Result, errs []error)
}

// Job is a delivery on a queue.
type Job struct {
	// ID is unique per queue; it is the delivery's ID. Enqueueing an ID that
	// is already on the queue (ready, delayed, leased or dead) is a no-op.
	ID    string
	Queue string
	// NotBefore hides the job until then; zero means ready now.
	NotBefore time.Time
	Delivery  *Delivery
}

// Lease is a job handed to one receiver until it is acked, nacked, buried or
// its visibility timeout passes (then it is handed out again).
type Lease struct {
	Job Job
	// Attempt counts how many times the job has been received, this one
	// included (1 on first receipt).
	Attempt int
	// Handle is the backend's handle for this lease, when it needs one.
	// Callers pass the Lease back unchanged.
	Handle string
	// Deadline is when the lease expires and the job may be handed to
	// another receiver, by this process's clock (the queue subtracts what
	// it cannot know, such as the receive call's own latency). Zero means
	// the queue does not say; the Dispatcher then neither caps a send by
	// the lease nor extends it: each send gets Config.SendTimeout, so the
	// queue's visibility must outlast that and the logging after it.
	Deadline time.Time
}

// QueueStats counts one queue's jobs by state.
type QueueStats struct {
	Ready    int // visible now
	Delayed  int // waiting for NotBefore or a nack delay
	InFlight int // leased
	Dead     int // buried; see Queue.Replay
	// OldestReady is the age of the oldest ready job, when the backend knows it.
	OldestReady time.Duration
}

// Queue holds jobs per named queue with at-least-once delivery. Every method
// is safe for concurrent use. A lease that is no longer held (it expired and
// was handed out again, or was already acked) makes Ack, Nack and Bury return
// ErrLeaseLost.
type Queue interface {
	// Enqueue adds jobs durably. When it returns nil every job is stored.
	Enqueue(ctx context.Context, jobs ...Job) error
	// Receive leases up to max ready jobs from queue. It blocks until at
	// least one is ready or ctx is done; then it returns ctx's error. A
	// lease's Job.Delivery may be the queue's own, shared with the job's
	// other leases: the receiver reads it and must not change it (the
	// Dispatcher works on a copy).
	Receive(ctx context.Context, queue string, max int) ([]Lease, error)
	// Ack removes leased jobs for good. Leases no longer held are skipped
	// and reported with an error wrapping ErrLeaseLost; the others are
	// still acked. Ack must not keep leases (the slice) once it has
	// returned, even with ctx's error: the caller may reuse it.
	Ack(ctx context.Context, leases ...Lease) error
	// Nack returns a leased job to its queue, hidden for delay.
	Nack(ctx context.Context, l Lease, delay time.Duration) error
	// Bury moves a leased job to the queue's dead state, where it stays
	// inspectable until Replay.
	Bury(ctx context.Context, l Lease, reason string) error
	// Replay makes a dead job ready again with its receive count reset. It
	// returns ErrNotFound when no dead job has that ID.
	Replay(ctx context.Context, queue, id string) error
	// Stats counts the queue's jobs by state; exact when the queue is idle.
	Stats(ctx context.Context, queue string) (QueueStats, error)
	// Close releases resources; afterwards every call returns ErrClosed and
	// blocked Receives return it too.
	Close() error
}

// Contacts resolves users to addresses.
type Contacts interface {
	// Contact returns the user's contact, or ErrNotFound.
	Contact(ctx context.Context, userID string) (Contact, error)
	PutContact(ctx context.Context, c Contact) error
	// RemoveAddress removes a dead address from the user's contact. A device
	// token is removed only if it was registered before registeredBefore (a
	// zero time removes it whatever its registration time), so a token that
	// was registered again after the provider's verdict survives. Removing
	// from an unknown user, or an address the user does not have, is not an
	// error.
	RemoveAddress(ctx context.Context, userID, channel, address string, registeredBefore time.Time) error
}

// Preferences holds each user's settings per category and channel: opt-outs,
// and the explicit allows an opt-in category (CategoryPolicy.OptIn) needs.
// A setting may name AllCategories as its category and AllChannels as its
// channel; see Consent for which setting wins.
type Preferences interface {
	// Consent returns what the user's settings say about category on
	// channel, by the precedence documented on Consent (ConsentOf
	// computes it): ConsentUnset when nothing applies. The Dispatcher
	// applies the category's policy to it (Consent.Allows).
	Consent(ctx context.Context, userID, category, channel string) (Consent, error)
	// SetPreference allows or opts the user out of category (or of every
	// category, with AllCategories) on channel (or on every channel, with
	// AllChannels), replacing what that setting was.
	SetPreference(ctx context.Context, userID, category, channel string, allowed bool) error
}

// EventLog is the notification log: every delivery's events.
type EventLog interface {
	// Record appends events. Events for one delivery are recorded in order.
	// Record must not keep events (the slice) once it has returned, even
	// with ctx's error: the caller may reuse it.
	Record(ctx context.Context, events ...Event) error
	// State returns where a delivery stands, or ErrNotFound.
	State(ctx context.Context, deliveryID string) (DeliveryState, error)
	// Delivery returns one delivery's log, or ErrNotFound.
	Delivery(ctx context.Context, deliveryID string) (DeliveryRecord, error)
	// Deliveries returns every delivery of a notification, oldest first, or
	// ErrNotFound when none was recorded.
	Deliveries(ctx context.Context, notificationID string) ([]DeliveryRecord, error)
}

// Store is contacts, preferences and the log together, as most backends
// provide them.
type Store interface {
	Contacts
	Preferences
	EventLog
}

// Limit is a rate: Rate events per Per, with bursts of up to Burst.
// A zero Burst means Rate.
type Limit struct {
	Rate  int
	Per   time.Duration
	Burst int
}

// IsZero reports whether l sets no limit.
func (l Limit) IsZero() bool { return l.Rate <= 0 || l.Per <= 0 }

// Decision is a Limiter's answer.
type Decision struct {
	Allowed bool
	// RetryAfter is how long until the next event would be allowed, when
	// not Allowed.
	RetryAfter time.Duration
	// Remaining is how many more events would be allowed right now.
	Remaining int
}

// Limiter counts events per key. Safe for concurrent use.
type Limiter interface {
	// Allow counts the event req describes for req.Key under req.Limit
	// and says whether it is within the limit. A denied event is not
	// counted. A limit that IsZero allows everything and counts nothing.
	//
	// An event with an ID is counted once: while the key remembers the ID
	// (for the limit's window, see LimitRequest.ID), asking again answers
	// Allowed without counting it again. So a call retried after a timeout
	// or a lost reply never counts its event twice, and the Dispatcher
	// counts a notification once, under its ID, however many deliveries
	// ask.
	Allow(ctx context.Context, req LimitRequest) (Decision, error)
}

// Deduper claims keys (event IDs) once within a time window. Safe for
// concurrent use: of many simultaneous claims of one key exactly one wins.
type Deduper interface {
	// Claim claims key for owner (a notification ID) for ttl. It reports
	// whether this call won the claim and, when it did not, the owner that
	// holds it. A ttl <= 0 wins and holds nothing.
	Claim(ctx context.Context, key, owner string, ttl time.Duration) (claimed bool, holder string, err error)
	// Release drops key if owner still holds it, so a failed Send can be
	// retried under the same event ID.
	Release(ctx context.Context, key, owner string) error
}

// Renderer renders a delivery's template for its channel and locale. The
// template package provides one.
type Renderer interface {
	// Render returns the message for d.Channel in d.Locale from d.Template
	// and d.Data. It returns an error wrapping ErrUnknownTemplate when no
	// such template exists. d is lent for the call: Render must not change
	// it, nor keep it once it has returned.
	Render(ctx context.Context, d *Delivery) (Message, error)
}

// LimitRequest is one event asked about by Limiter.Allow or
// BatchLimiter.AllowBatch.
type LimitRequest struct {
	// Key is what the event counts against: the Dispatcher's keys are a
	// user and category, and a user across every category (Config.UserLimit).
	Key string
	// ID, when not empty, names the event so that it is counted once for
	// Key. While Key remembers ID, an event with it is Allowed without
	// being counted again (Remaining is then what is left after it). An
	// ID is remembered once its event is counted (a denied event is not),
	// for the limit's window: Per, or Burst*Per/Rate when that is longer.
	// Limiters bound how many IDs a key remembers; past that bound (only
	// reached by events counted with Force) the oldest are forgotten.
	// Empty: every call counts an event.
	ID string
	// Limit is the rate; a Limit that IsZero allows everything.
	Limit Limit
	// Force counts the event even over the limit, and answers Allowed
	// (with Remaining 0 when the limit was spent): later events of Key
	// then wait for it too. The Dispatcher forces Critical notifications
	// through Config.UserLimit.
	Force bool
}

// BatchLimiter is implemented by limiters that answer many events in one
// round trip (ratelimit/redis pipelines them). decisions[i] and errs[i]
// answer reqs[i], decided exactly as Allow for each in turn would; errs is
// nil when every request succeeded. The Dispatcher checks the first
// attempts of a fetched batch of deliveries with one AllowBatch.
type BatchLimiter interface {
	Limiter
	AllowBatch(ctx context.Context, reqs []LimitRequest) (decisions []Decision, errs []error)
}

// ClaimRequest is one claim of a BatchDeduper's ClaimBatch.
type ClaimRequest struct {
	Key   string
	Owner string
	TTL   time.Duration
}

// ClaimResult answers one ClaimRequest: whether it won and, when it did
// not, the owner that holds the key.
type ClaimResult struct {
	Claimed bool
	Holder  string
}

// BatchDeduper is implemented by dedupers that make many claims in one
// round trip (dedup/redis pipelines them). results[i] and errs[i] answer
// claims[i], decided exactly as Claim for each in turn would; errs is nil
// when every claim got an answer. SendBatch claims its event IDs with one
// ClaimBatch.
type BatchDeduper interface {
	Deduper
	ClaimBatch(ctx context.Context, claims []ClaimRequest) (results []ClaimResult, errs []error)
}

// EventLogQueue is implemented by a Queue that lives in the same database as
// the EventLog (the postgres package): it writes log events in the same
// transaction as its own rows, saving a round trip per delivery on each
// side of the pipeline and making the two writes atomic. Either method
// returns an error wrapping errors.ErrUnsupported, having written nothing,
// when log is not an EventLog it can write to; the Dispatcher then calls Record
// and Enqueue (or Ack) one after the other.
type EventLogQueue interface {
	Queue
	// EnqueueLogged records events in log and enqueues jobs, atomically.
	// With no events and no jobs it writes nothing and only answers
	// whether it can write to log.
	EnqueueLogged(ctx context.Context, log EventLog, events []Event, jobs []Job) error
	// AckLogged records ev in log and acks l, atomically. When the lease is
	// lost it records ev all the same and returns ErrLeaseLost.
	AckLogged(ctx context.Context, log EventLog, l Lease, ev Event) error
}

// LeaseExtender is implemented by queues that can extend a held lease
// (PostgreSQL: a deadline update; SQS: ChangeMessageVisibility; memory).
// The Dispatcher extends the lease of a send that runs long, so one
// attempt never outlives its lease and no other receiver gets the job
// while it runs.
type LeaseExtender interface {
	// Extend moves l's expiry to d from now and returns the new deadline.
	// It returns an error wrapping ErrLeaseLost when l is no longer held.
	Extend(ctx context.Context, l Lease, d time.Duration) (time.Time, error)
}

// RepeatEnqueuer is implemented by a Queue that says whether Enqueue is
// idempotent by job ID across calls, as the Queue contract asks: a job
// whose ID is already on the queue is left as it is. An SQS standard queue
// is not (two calls make two messages), nor is a FIFO queue beyond its
// five-minute deduplication window. When Send finds a repeated event ID
// whose original was logged as queued but may never have reached such a
// queue (its Enqueue failed ambiguously), it does not enqueue it again,
// which would risk sending twice; see Dispatcher.Send.
type RepeatEnqueuer interface {
	EnqueueIsIdempotent() bool
}

// Pruner is a backend that keeps its size bounded by deleting what it no
// longer needs: log events past their retention, expired dedup claims.
// [Dispatcher.Run] calls Prune every Config.PruneEvery on each configured
// Store, Deduper and Queue that implements it. Prune must be safe to run
// from many processes at once and return soon after ctx is canceled (Run
// waits for it); it returns how many items it deleted.
type Pruner interface {
	Prune(ctx context.Context) (int64, error)
}
