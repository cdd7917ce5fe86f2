package sms

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/twilio/twilio-go/client"

	"github.com/gonotify/notify"
)

// The codes twilio-go returns without a request (New refuses such
// credentials, so Send never meets them) are configuration errors too.
func TestClassifyLocalRejections(t *testing.T) {
	for _, code := range []int{codeBadUsername, codeBadPassword} {
		err := classify(context.Background(), &call{}, &client.TwilioRestError{Code: code, Status: 400})
		assert.Equal(t, notify.OutcomeConfig, notify.Classify(err).Outcome, "code %d", code)
	}
	err := classify(context.Background(), &call{}, errors.New("dial tcp: connection refused"))
	assert.Equal(t, notify.OutcomeRetry, notify.Classify(err).Outcome)
	assert.False(t, notify.Classify(err).MaybeSent)
}

func TestValidity(t *testing.T) {
	now := time.Now()
	assert.Equal(t, 600, validity(600, now.Add(time.Hour), now), "explicit wins")
	assert.Equal(t, 0, validity(0, time.Time{}, now), "Twilio's default")
	assert.Equal(t, 91, validity(0, now.Add(90*time.Second+time.Millisecond), now), "rounded up")
	assert.Equal(t, MaxValidity, validity(0, now.Add(48*time.Hour), now), "capped")
	assert.Equal(t, -1, validity(0, now.Add(-time.Second), now), "expired")
}
