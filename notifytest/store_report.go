package notifytest

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gonotify/notify"
)

// testReporter checks a notify.Reporter against a scripted scenario with
// exact counts: template A (email) has 100 deliveries queued on one day,
// all sent, 90 delivered and 10 undelivered, 30 opened (5 of them twice)
// and 12 clicked; template B (apns, which reports no deliveries) has 10
// queued the next day, 8 sent and 2 dead, 4 opened. A delivery queued
// before the range and opened inside it is left out.
func testReporter(t *testing.T, s notify.Store, id string) {
	rep, ok := notify.As[notify.Reporter](s)
	if !ok {
		t.Skip("the store is not a notify.Reporter")
	}
	ctx := timeout(t, 60*time.Second)
	// A day in 2003 no other subtest writes to, and template names of this
	// subtest's own.
	day1 := time.Date(2003, 3, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(len(id)%7) * 24 * time.Hour)
	day2 := day1.Add(24 * time.Hour)
	tmplA, tmplB := id+"-a", id+"-b"
	var events []notify.Event
	add := func(tmpl, ch string, i int, status notify.Status, at time.Time) {
		events = append(events, notify.Event{
			DeliveryID: fmt.Sprintf("%s-%s-%d", tmpl, ch, i), NotificationID: fmt.Sprintf("%s-n%d", tmpl, i),
			UserID: "u", Category: "news", Channel: ch, Address: "a", Template: tmpl, Status: status, At: at,
		})
	}
	for i := range 100 {
		at := day1.Add(time.Hour + time.Duration(i)*time.Second)
		add(tmplA, "email", i, notify.StatusQueued, at)
		add(tmplA, "email", i, notify.StatusSent, at.Add(time.Second))
		if i < 90 {
			add(tmplA, "email", i, notify.StatusDelivered, at.Add(time.Minute))
		} else {
			add(tmplA, "email", i, notify.StatusUndelivered, at.Add(time.Minute))
		}
		if i < 30 {
			add(tmplA, "email", i, notify.StatusOpened, at.Add(time.Hour))
		}
		if i < 5 {
			add(tmplA, "email", i, notify.StatusOpened, at.Add(2*time.Hour)) // a second open of the same
		}
		if i < 12 {
			add(tmplA, "email", i, notify.StatusClicked, at.Add(3*time.Hour))
		}
	}
	for i := range 10 {
		at := day2.Add(time.Hour + time.Duration(i)*time.Second)
		add(tmplB, "apns", i, notify.StatusQueued, at)
		if i < 8 {
			add(tmplB, "apns", i, notify.StatusSent, at.Add(time.Second))
		} else {
			add(tmplB, "apns", i, notify.StatusDead, at.Add(time.Second))
		}
		if i < 4 {
			add(tmplB, "apns", i, notify.StatusOpened, at.Add(time.Minute))
		}
	}
	// Queued the day before the range, opened inside it: not counted.
	add(tmplA, "email", 1000, notify.StatusQueued, day1.Add(-time.Hour))
	add(tmplA, "email", 1000, notify.StatusSent, day1.Add(-time.Hour))
	add(tmplA, "email", 1000, notify.StatusOpened, day1.Add(time.Hour))
	for len(events) > 0 {
		n := min(len(events), 100)
		require.NoError(t, s.Record(ctx, events[:n]...))
		events = events[n:]
	}

	mine := func(rows []notify.ReportRow) []notify.ReportRow {
		var out []notify.ReportRow
		for _, r := range rows {
			if r.Template == tmplA || r.Template == tmplB {
				out = append(out, r)
			}
		}
		return out
	}
	q := notify.ReportQuery{Since: day1, Until: day2.Add(24 * time.Hour), GroupBy: []string{notify.ByTemplate, notify.ByChannel, notify.ByDay}}
	rows, err := rep.Report(ctx, q)
	require.NoError(t, err)
	want := []notify.ReportRow{
		{Template: tmplA, Channel: "email", Day: day1, Deliveries: 100, Sent: 100, Delivered: 90, Failed: 10, Opened: 30, Clicked: 12,
			OpenRate: 30.0 / 90, ClickRate: 12.0 / 90},
		{Template: tmplB, Channel: "apns", Day: day2, Deliveries: 10, Sent: 8, Delivered: 0, Failed: 2, Opened: 4,
			OpenRate: 4.0 / 8},
	}
	got := mine(rows)
	require.Len(t, got, 2, "rows of this subtest's templates: %+v", got)
	for i := range want {
		assert.True(t, want[i].Day.Equal(got[i].Day), "row %d Day: want %v, got %v", i, want[i].Day, got[i].Day)
		got[i].Day = want[i].Day
		assert.InDelta(t, want[i].OpenRate, got[i].OpenRate, 1e-9, "row %d OpenRate", i)
		assert.InDelta(t, want[i].ClickRate, got[i].ClickRate, 1e-9, "row %d ClickRate", i)
		got[i].OpenRate, got[i].ClickRate = want[i].OpenRate, want[i].ClickRate
		assert.Equal(t, want[i], got[i], "row %d", i)
	}

	// Only the first day, grouped by template alone.
	rows, err = rep.Report(ctx, notify.ReportQuery{Since: day1, Until: day2, GroupBy: []string{notify.ByTemplate}})
	require.NoError(t, err)
	got = mine(rows)
	require.Len(t, got, 1)
	assert.Equal(t, 100, got[0].Deliveries)
	assert.Empty(t, got[0].Channel, "a dimension not grouped by is empty")
	assert.True(t, got[0].Day.IsZero(), "a dimension not grouped by is zero")

	_, err = rep.Report(ctx, notify.ReportQuery{Since: day1, Until: day2, GroupBy: []string{"color"}})
	var ve *notify.ValidationError
	require.True(t, errors.As(err, &ve), "an unknown dimension is a *notify.ValidationError, got %v", err)
	assert.Equal(t, "GroupBy[0]", ve.Field)
}
