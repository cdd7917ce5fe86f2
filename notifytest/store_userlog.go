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

// testUserLog checks a notify.UserLog: a user's deliveries listed newest
// first by their first event, each with its events; pages that join up;
// other users' deliveries left out; a malformed cursor refused.
func testUserLog(t *testing.T, s notify.Store, id string) {
	ul, ok := notify.As[notify.UserLog](s)
	if !ok {
		t.Skip("the store is not a notify.UserLog")
	}
	ctx := timeout(t, 20*time.Second)
	base := time.Now().Add(-time.Hour).Truncate(time.Millisecond)
	user, other := id, id+"-other"
	ev := func(n, d, u string, status notify.Status, at time.Time) notify.Event {
		return notify.Event{DeliveryID: d, NotificationID: n, UserID: u, Category: "orders",
			Channel: "sms", Address: "+15550199", Status: status, At: at}
	}
	// Deliveries d0 (oldest) .. d3 (newest) of the user, each queued then
	// later sent; one of another user in between.
	for i := range 4 {
		n, d := fmt.Sprintf("%s-n%d", id, i), fmt.Sprintf("%s-d%d", id, i)
		at := base.Add(time.Duration(i) * time.Minute)
		require.NoError(t, s.Record(ctx, ev(n, d, user, notify.StatusQueued, at)))
		require.NoError(t, s.Record(ctx, ev(n, d, user, notify.StatusSent, at.Add(90*time.Minute))))
	}
	require.NoError(t, s.Record(ctx, ev(id+"-nx", id+"-dx", other, notify.StatusQueued, base.Add(90*time.Second))))

	want := []string{id + "-d3", id + "-d2", id + "-d1", id + "-d0"}
	p, err := ul.UserDeliveries(ctx, notify.UserQuery{UserID: user})
	require.NoError(t, err)
	var got []string
	for _, r := range p.Records {
		got = append(got, r.DeliveryID)
		assert.Equal(t, notify.StatusSent, r.Status, "status of %s", r.DeliveryID)
		assert.Len(t, r.Events, 2, "events of %s", r.DeliveryID)
		assert.Equal(t, user, r.UserID)
	}
	assert.Equal(t, want, got, "newest first by first event, the other user's left out")
	assert.Empty(t, p.Next, "one page holds them all")

	for _, limit := range []int{1, 3} {
		var paged []string
		q := notify.UserQuery{UserID: user, Limit: limit}
		for pages := 0; ; pages++ {
			require.Less(t, pages, 10, "the listing does not end")
			p, err := ul.UserDeliveries(ctx, q)
			require.NoError(t, err)
			require.LessOrEqual(t, len(p.Records), limit)
			for _, r := range p.Records {
				paged = append(paged, r.DeliveryID)
			}
			if p.Next == "" {
				break
			}
			q.Cursor = p.Next
		}
		assert.Equal(t, want, paged, "pages of %d join up", limit)
	}

	none, err := ul.UserDeliveries(ctx, notify.UserQuery{UserID: id + "-nobody"})
	require.NoError(t, err)
	assert.Empty(t, none.Records, "a user with no deliveries")

	_, err = ul.UserDeliveries(ctx, notify.UserQuery{UserID: user, Cursor: "garbage"})
	var ve *notify.ValidationError
	assert.True(t, errors.As(err, &ve), "a malformed cursor is a *notify.ValidationError, got %v", err)
}
