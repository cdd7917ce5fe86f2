package notify_test

import (
	"context"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gonotify/notify"
)

// These tests pin how Send de-duplicates: one delivery per address within
// a notification, and an event ID's claim as the Deduper holds it.

func TestOneDeliveryPerAddress(t *testing.T) {
	h := newHarness(t)
	c := ana
	c.Devices = append(c.Devices, notify.Device{Platform: "apns", Token: "apns-token-1"}) // registered twice
	h.contact(t, c)
	n := welcome("dups")
	n.Channels = []string{"sms", "sms", "apns"}
	n.To = []notify.Address{{Channel: "sms", Value: ana.Phone}, {Channel: "sms", Value: "+15005550099"}}
	r, err := h.d.Send(t.Context(), n)
	require.NoError(t, err)
	var got []string
	for _, d := range r.Deliveries {
		got = append(got, d.Channel+" "+d.Address)
	}
	assert.ElementsMatch(t, []string{"sms +15005550006", "sms +15005550099", "apns apns-token-1"}, got)
}

func TestClaimedButNotLoggedIsInProgress(t *testing.T) {
	h := newHarness(t)
	// Another Send (or one that died) holds the claim and logged nothing.
	ok, _, err := h.cfg.Deduper.Claim(t.Context(), "held", "some-other-notification", time.Hour)
	require.NoError(t, err)
	require.True(t, ok)
	_, err = h.d.Send(t.Context(), notify.Notification{EventID: "held", To: []notify.Address{{Channel: "sms", Value: "+1"}}, Content: &notify.Message{Body: "x"}})
	require.ErrorIs(t, err, notify.ErrInProgress, "never a silent duplicate of nothing")
}

// lossyDeduper claims, then reports a timeout: the claim was written but
// the caller does not know.
type lossyDeduper struct {
	notify.Deduper
	lose bool
}

func (l *lossyDeduper) Claim(ctx context.Context, key, owner string, ttl time.Duration) (bool, string, error) {
	ok, holder, err := l.Deduper.Claim(ctx, key, owner, ttl)
	if l.lose {
		return false, "", context.DeadlineExceeded
	}
	return ok, holder, err
}

func TestClaimErrorReleasesTheClaim(t *testing.T) {
	h := newHarness(t)
	ld := &lossyDeduper{Deduper: h.cfg.Deduper, lose: true}
	cfg := h.cfg
	cfg.Deduper = ld
	d, err := notify.New(cfg)
	require.NoError(t, err)
	n := notify.Notification{EventID: "lost-reply", To: []notify.Address{{Channel: "sms", Value: "+1"}}, Content: &notify.Message{Body: "x"}}
	_, err = d.Send(t.Context(), n)
	require.Error(t, err)
	ld.lose = false
	r, err := d.Send(t.Context(), n)
	require.NoError(t, err, "the retry is not taken for a duplicate")
	assert.False(t, r.Duplicate)
	assert.Len(t, r.Deliveries, 1)
}

// uuidV7At makes a version 7 UUID stamped at (what a Send claimed with).
func uuidV7At(at time.Time) string {
	var u uuid.UUID
	ms := at.UnixMilli()
	for i := range 6 {
		u[i] = byte(ms >> (40 - 8*i))
	}
	u[6], u[8] = 0x70, 0x80
	return u.String()
}
