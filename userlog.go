package notify

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

// UserQuery selects one user's deliveries, newest first: what a person
// looks up when a user says "I never got it".
type UserQuery struct {
	UserID string
	// Limit is the page size: default 100, at most 1,000.
	Limit int
	// Cursor continues a listing where the previous page ended (its
	// DeliveryPage.Next); empty starts at the newest.
	Cursor string
}

// PageLimit returns q's page size: Limit within [1, 1000], 100 when unset.
func (q UserQuery) PageLimit() int { return pageLimit(q.Limit) }

// DeliveryPage is one page of deliveries.
type DeliveryPage struct {
	Records []DeliveryRecord
	// Next continues the listing (UserQuery.Cursor); empty when this page
	// is the last.
	Next string
}

// UserLog is implemented by an EventLog that lists a user's deliveries
// (store/memory, postgres.Store). Dispatcher.UserDeliveries needs it.
type UserLog interface {
	// UserDeliveries returns the page of q.UserID's deliveries that q
	// selects, newest first: by the time of each delivery's first event,
	// then by delivery ID (see PageCursor). Every record holds its events,
	// as Delivery returns them. A user with none gets an empty page.
	UserDeliveries(ctx context.Context, q UserQuery) (DeliveryPage, error)
}

// UserDeliveries lists a user's deliveries newest first, a page at a time,
// each with its whole log: queued, attempts, sent, skipped (with why),
// delivered, opened. It needs a Store that is a UserLog; otherwise it
// returns an error wrapping errors.ErrUnsupported.
func (d *Dispatcher) UserDeliveries(ctx context.Context, q UserQuery) (DeliveryPage, error) {
	if q.UserID == "" {
		return DeliveryPage{}, invalid("UserID", "empty")
	}
	ul, ok := As[UserLog](d.cfg.Store)
	if !ok {
		return DeliveryPage{}, fmt.Errorf("notify: the Store (%T) cannot list a user's deliveries (it is not a UserLog): %w", d.cfg.Store, errors.ErrUnsupported)
	}
	bctx, cancel := context.WithTimeout(ctx, d.cfg.BackendTimeout)
	defer cancel()
	p, err := ul.UserDeliveries(bctx, q)
	if err != nil {
		return DeliveryPage{}, fmt.Errorf("notify: deliveries of user %s: %w", q.UserID, err)
	}
	return p, nil
}

// PageOf sorts records newest first (by first event, then delivery ID) and
// returns the page that comes after cursor, up to limit, with the cursor
// of the next page. UserLog implementations that sort in memory use it.
func PageOf(records []DeliveryRecord, cursor PageCursor, limit int) DeliveryPage {
	slices.SortFunc(records, func(a, b DeliveryRecord) int {
		if c := firstAt(b).Compare(firstAt(a)); c != 0 {
			return c
		}
		return strings.Compare(b.DeliveryID, a.DeliveryID)
	})
	var out []DeliveryRecord
	for _, r := range records {
		if cursor.ID == "" || cursor.After(firstAt(r), r.DeliveryID) {
			out = append(out, r)
		}
	}
	p := DeliveryPage{Records: out}
	if len(out) > limit {
		p.Records = out[:limit:limit]
		last := p.Records[limit-1]
		p.Next = PageCursor{At: firstAt(last), ID: last.DeliveryID}.String()
	}
	return p
}

// firstAt is when a delivery's first event happened.
func firstAt(r DeliveryRecord) time.Time {
	if len(r.Events) > 0 {
		return r.Events[0].At
	}
	return time.Time{}
}
