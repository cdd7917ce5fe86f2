package notify

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

// Dimensions a Report groups by.
const (
	ByTemplate = "template"
	ByCategory = "category"
	ByChannel  = "channel"
	ByDay      = "day" // the UTC day the delivery was queued
)

// ReportQuery asks for engagement over a time range.
type ReportQuery struct {
	// Since and Until select the deliveries queued in [Since, Until). Both
	// are required. Events after Until (an open days later) still count.
	Since, Until time.Time
	// GroupBy lists the dimensions rows are grouped by, any of ByTemplate,
	// ByCategory, ByChannel and ByDay; none makes one row of totals.
	GroupBy []string
}

// ReportRow is one group's counts. Each count is of deliveries (unique per
// delivery: two opens of one email count once).
type ReportRow struct {
	// The dimensions grouped by; the others are empty (Day zero).
	Template, Category, Channel string
	Day                         time.Time

	Deliveries int // queued in the range
	Sent       int // the provider accepted them
	Delivered  int // the provider reported them delivered
	Failed     int // whose last event (tracking aside) is failed, dead, invalid, opted out, undelivered or expired
	Opened     int // opened at least once
	Clicked    int // clicked at least once

	// OpenRate and ClickRate are Opened and Clicked over Delivered when
	// the provider reports deliveries (email, SMS); over Sent when it does
	// not (push: APNs and FCM report none), that is when Delivered is 0.
	// Zero when that denominator is.
	OpenRate, ClickRate float64
}

// Reporter is implemented by an EventLog that computes engagement reports
// (store/memory; postgres.Store, in SQL). Dispatcher.Report needs it.
type Reporter interface {
	Report(ctx context.Context, q ReportQuery) ([]ReportRow, error)
}

// CheckReportQuery returns a *ValidationError naming the field when q cannot
// be answered: a missing or empty range, or an unknown dimension.
// Reporter implementations call it first.
func CheckReportQuery(q ReportQuery) error {
	switch {
	case q.Since.IsZero():
		return invalid("Since", "required")
	case q.Until.IsZero():
		return invalid("Until", "required")
	case !q.Until.After(q.Since):
		return invalid("Until", "must be after Since")
	}
	for i, g := range q.GroupBy {
		switch g {
		case ByTemplate, ByCategory, ByChannel, ByDay:
		default:
			return invalid(fmt.Sprintf("GroupBy[%d]", i), "%q is not a dimension (%s, %s, %s, %s)", g, ByTemplate, ByCategory, ByChannel, ByDay)
		}
		if slices.Contains(q.GroupBy[:i], g) {
			return invalid(fmt.Sprintf("GroupBy[%d]", i), "%q is listed twice", g)
		}
	}
	return nil
}

// Report counts, per group, the deliveries queued in q's range and what
// became of them: sent, delivered, failed, opened, clicked, with open and
// click rates. It needs a Store that is a Reporter; otherwise it returns an
// error wrapping errors.ErrUnsupported. Rows come sorted by their
// dimensions.
func (d *Dispatcher) Report(ctx context.Context, q ReportQuery) ([]ReportRow, error) {
	if err := CheckReportQuery(q); err != nil {
		return nil, err
	}
	r, ok := As[Reporter](d.cfg.Store)
	if !ok {
		return nil, fmt.Errorf("notify: the Store (%T) cannot compute reports (it is not a Reporter): %w", d.cfg.Store, errors.ErrUnsupported)
	}
	rows, err := r.Report(ctx, q)
	if err != nil {
		return nil, fmt.Errorf("notify: report: %w", err)
	}
	return rows, nil
}

// Tally computes a Report from delivery records in memory: the deliveries
// queued in q's range, grouped and counted. Reporter implementations that
// hold their log in memory use it; databases compute the same in SQL.
func Tally(q ReportQuery, records []DeliveryRecord) []ReportRow {
	groups := map[ReportRow]*ReportRow{}
	for _, r := range records {
		var queued time.Time
		var last Status // the last event's status that is not tracking
		var sent, delivered, opened, clicked bool
		for _, e := range r.Events {
			if !e.Status.tracking() {
				last = e.Status
			}
			switch e.Status {
			case StatusQueued:
				if queued.IsZero() {
					queued = e.At
				}
			case StatusSent:
				sent = true
			case StatusDelivered:
				delivered = true
			case StatusOpened:
				opened = true
			case StatusClicked:
				clicked = true
			}
		}
		if queued.IsZero() || queued.Before(q.Since) || !queued.Before(q.Until) {
			continue
		}
		failed := failedStatus(last)
		key := ReportRow{}
		for _, g := range q.GroupBy {
			switch g {
			case ByTemplate:
				key.Template = r.Template
			case ByCategory:
				key.Category = r.Category
			case ByChannel:
				key.Channel = r.Channel
			case ByDay:
				key.Day = queued.UTC().Truncate(24 * time.Hour)
			}
		}
		row := groups[key]
		if row == nil {
			c := key
			row = &c
			groups[key] = row
		}
		row.Deliveries++
		row.Sent += b2i(sent)
		row.Delivered += b2i(delivered)
		row.Failed += b2i(failed)
		row.Opened += b2i(opened)
		row.Clicked += b2i(clicked)
	}
	out := make([]ReportRow, 0, len(groups))
	for _, row := range groups {
		out = append(out, *row)
	}
	SortReport(out)
	return out
}

// failedStatuses are the final statuses a Report counts as failed.
var failedStatuses = []Status{StatusFailed, StatusDead, StatusInvalid, StatusOptedOut, StatusUndelivered, StatusExpired}

// failedStatus reports whether a delivery that ended in s failed.
func failedStatus(s Status) bool { return slices.Contains(failedStatuses, s) }

// FailedStatuses lists the final statuses a Report counts as failed, for
// Reporters that count in a database.
func FailedStatuses() []Status { return slices.Clone(failedStatuses) }

// SortReport sorts rows by their dimensions and fills in their rates.
func SortReport(rows []ReportRow) {
	for i := range rows {
		r := &rows[i]
		base := r.Delivered
		if base == 0 {
			base = r.Sent
		}
		r.OpenRate, r.ClickRate = 0, 0
		if base > 0 {
			r.OpenRate = float64(r.Opened) / float64(base)
			r.ClickRate = float64(r.Clicked) / float64(base)
		}
	}
	slices.SortFunc(rows, func(a, b ReportRow) int {
		if c := a.Day.Compare(b.Day); c != 0 {
			return c
		}
		if c := strings.Compare(a.Template, b.Template); c != 0 {
			return c
		}
		if c := strings.Compare(a.Category, b.Category); c != 0 {
			return c
		}
		return strings.Compare(a.Channel, b.Channel)
	})
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}
