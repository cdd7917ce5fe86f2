package notify

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// DeadJob is a buried job, as a DeadLister lists it.
type DeadJob struct {
	Job Job
	// Attempts is how many times the job was received before it was buried.
	Attempts int
	// Reason is what Bury was told: why the delivery went dead.
	Reason string
	// DiedAt is when the job was buried.
	DiedAt time.Time
}

// DeadQuery selects one queue's dead jobs, newest first.
type DeadQuery struct {
	// Queue is the queue's name. Dispatcher.Dead fills it in from the
	// channel.
	Queue string
	// Reason, when set, keeps the jobs whose reason contains it.
	Reason string
	// Since and Until, when set, keep the jobs buried in [Since, Until).
	Since, Until time.Time
	// Limit is the page size: default 100, at most 1,000.
	Limit int
	// Cursor continues a listing where the previous page ended (its
	// DeadPage.Next); empty starts at the newest.
	Cursor string
}

// DeadPage is one page of dead jobs.
type DeadPage struct {
	Jobs []DeadJob
	// Next continues the listing (DeadQuery.Cursor); empty when this page
	// is the last.
	Next string
}

// DeadLister is implemented by queues that list their dead jobs
// (queue/memory, postgres.Queue). Dispatcher.Dead and ReplayDead need it;
// on a queue without it they return an error wrapping
// errors.ErrUnsupported.
type DeadLister interface {
	// Dead returns the page of q.Queue's dead jobs that q selects, newest
	// (by DiedAt, then ID) first. Jobs buried or replayed while a caller
	// pages through may be missed or listed once more, never skipped
	// otherwise.
	Dead(ctx context.Context, q DeadQuery) (DeadPage, error)
}

// Page sizes of a listing (DeadQuery, UserQuery).
const (
	defaultPageLimit = 100
	maxPageLimit     = 1000
)

// pageLimit is a listing's page size: limit within [1, 1000], 100 when unset.
func pageLimit(limit int) int {
	switch {
	case limit <= 0:
		return defaultPageLimit
	case limit > maxPageLimit:
		return maxPageLimit
	}
	return limit
}

// PageLimit returns q's page size: Limit within [1, 1000], 100 when unset.
// DeadLister implementations use it so all of them page alike.
func (q DeadQuery) PageLimit() int { return pageLimit(q.Limit) }

// Matches reports whether a job buried at diedAt for reason passes q's
// Reason, Since and Until (not its Cursor).
func (q DeadQuery) Matches(reason string, diedAt time.Time) bool {
	return (q.Reason == "" || strings.Contains(reason, q.Reason)) &&
		(q.Since.IsZero() || !diedAt.Before(q.Since)) &&
		(q.Until.IsZero() || diedAt.Before(q.Until))
}

// PageCursor is a position in a newest-first listing (of dead jobs, of a
// user's deliveries): the time and ID of the last item of a page, encoded
// in the page's Next. Backends use it so that a cursor means the same on
// every one.
type PageCursor struct {
	At time.Time
	ID string
}

// String encodes c for a page's Next.
func (c PageCursor) String() string {
	return strconv.FormatInt(c.At.UnixNano(), 10) + ":" + c.ID
}

// After reports whether an item at that time with that ID comes after c in
// a newest-first listing (it is older, or as old with a smaller ID).
func (c PageCursor) After(at time.Time, id string) bool {
	return at.Before(c.At) || (at.Equal(c.At) && id < c.ID)
}

// ParsePageCursor decodes a listing's Cursor; an empty one is the zero
// PageCursor (start at the newest). A malformed one is a *ValidationError.
func ParsePageCursor(s string) (PageCursor, error) {
	if s == "" {
		return PageCursor{}, nil
	}
	ns, id, ok := strings.Cut(s, ":")
	n, err := strconv.ParseInt(ns, 10, 64)
	if !ok || err != nil || id == "" {
		return PageCursor{}, &ValidationError{Field: "Cursor", Reason: "not a cursor this listing returned (a page's Next)"}
	}
	return PageCursor{At: time.Unix(0, n), ID: id}, nil
}

// Dead lists channel's dead deliveries, newest first, a page at a time:
// each with its delivery, attempts, the reason it went dead and when. q's
// Queue is set from channel. It needs a Queue that is a DeadLister.
func (d *Dispatcher) Dead(ctx context.Context, channel string, q DeadQuery) (DeadPage, error) {
	dl, err := d.deadLister(channel)
	if err != nil {
		return DeadPage{}, err
	}
	q.Queue = d.QueueName(channel)
	p, err := dl.Dead(ctx, q)
	if err != nil {
		return DeadPage{}, fmt.Errorf("notify: list dead deliveries of %s: %w", channel, err)
	}
	return p, nil
}

// ReplayDead replays every dead delivery of channel that q selects (its
// Reason, Since and Until; Limit sets the page size it lists by), each as
// Replay does, and returns how many it replayed. A delivery replayed
// concurrently by another caller is skipped. It stops at the first other
// error, having replayed the count it returns; calling it again continues.
func (d *Dispatcher) ReplayDead(ctx context.Context, channel string, q DeadQuery) (int, error) {
	q.Cursor = ""
	n := 0
	for {
		p, err := d.Dead(ctx, channel, q)
		if err != nil {
			return n, err
		}
		for _, j := range p.Jobs {
			switch err := d.Replay(ctx, j.Job.ID); {
			case err == nil:
				n++
			case errors.Is(err, ErrNotDead) || errors.Is(err, ErrNotFound):
				// replayed by another caller meanwhile, or no longer logged
			default:
				return n, err
			}
		}
		if p.Next == "" {
			return n, nil
		}
		q.Cursor = p.Next
	}
}

func (d *Dispatcher) deadLister(channel string) (DeadLister, error) {
	if _, ok := d.channels[channel]; !ok {
		return nil, &ValidationError{Field: "Channel", Reason: fmt.Sprintf("no channel named %q", channel)}
	}
	dl, ok := As[DeadLister](d.cfg.Queue)
	if !ok {
		return nil, fmt.Errorf("notify: the Queue (%T) cannot list dead jobs (it is not a DeadLister): %w", d.cfg.Queue, errors.ErrUnsupported)
	}
	return dl, nil
}
