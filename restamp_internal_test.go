package notify

import (
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A plan that took long to make is claimed under a fresh notification ID,
// so its claim does not look old enough to be taken over while it is
// written; every ID derived from the old one follows.
func TestRestampMovesEveryDerivedID(t *testing.T) {
	p := &plan{claims: true}
	old := new(idClock).newID()
	p.receipt.NotificationID, p.receipt.EventID = old, "e1"
	deliveries := []Delivery{{ID: deliveryID(old, "sms", "+1"), NotificationID: old, EventID: "e1", Channel: "sms", Address: "+1"}}
	p.jobs = []Job{{ID: deliveries[0].ID, Delivery: &deliveries[0]}}
	p.receipt.Deliveries = []DeliveryRef{{ID: deliveries[0].ID, Channel: "sms", Address: "+1"}}
	p.events = []Event{
		{DeliveryID: deliveries[0].ID, NotificationID: old, Channel: "sms", Address: "+1", Status: StatusQueued},
		{DeliveryID: deliveryID(old, "email", ""), NotificationID: old, Channel: "email", Status: StatusSkipped},
	}
	time.Sleep(2 * time.Millisecond)
	nid := new(idClock).newID()
	p.restamp(nid)

	assert.Equal(t, nid, p.receipt.NotificationID)
	assert.Equal(t, "e1", p.receipt.EventID, "the caller's event ID stays")
	id := deliveryID(nid, "sms", "+1")
	assert.Equal(t, id, deliveries[0].ID)
	assert.Equal(t, nid, deliveries[0].NotificationID)
	assert.Equal(t, id, p.jobs[0].ID)
	assert.Equal(t, id, p.receipt.Deliveries[0].ID)
	assert.Equal(t, id, p.events[0].DeliveryID)
	assert.Equal(t, deliveryID(nid, "email", ""), p.events[1].DeliveryID)
	for _, e := range p.events {
		assert.Equal(t, nid, e.NotificationID)
	}
	u, err := uuid.Parse(nid)
	require.NoError(t, err)
	age, ok := claimAge(u.String(), time.Now())
	require.True(t, ok)
	assert.Less(t, age, time.Second)
}
