package notifyhttp

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gonotify/notify"
	"github.com/gonotify/notify/notifytest"
	qmem "github.com/gonotify/notify/queue/memory"
	smem "github.com/gonotify/notify/store/memory"
)

// digitsChannel is an SMS channel whose AddressNormalizer keeps a
// number's digits after a "+" and refuses one without them.
type digitsChannel struct{ *notifytest.Channel }

func (digitsChannel) NormalizeAddress(a string) (string, error) {
	if !strings.HasPrefix(strings.TrimSpace(a), "+") {
		return "", errors.New("no country code: write it as +14155550100")
	}
	return "+" + strings.Map(func(r rune) rune {
		if r >= '0' && r <= '9' {
			return r
		}
		return -1
	}, a), nil
}

// TestContactAddressesNormalized: the API stores and answers the normal
// form of an address, and a refused one is a 422 problem naming the JSON
// field.
func TestContactAddressesNormalized(t *testing.T) {
	e := newEnv(t, func(cfg *Config) {
		queue := qmem.New(qmem.Config{})
		t.Cleanup(func() { _ = queue.Close() })
		d, err := notify.New(notify.Config{Queue: queue, Store: smem.New(smem.Config{}),
			Channels: []notify.Channel{digitsChannel{notifytest.NewChannel("sms")}, notifytest.NewChannel("apns"), notifytest.NewChannel("email")}})
		require.NoError(t, err)
		cfg.Dispatcher = d
	})
	ctx := context.Background()
	require.NoError(t, e.c.PutContact(ctx, notify.Contact{UserID: "ana", Phone: "+1 (415) 555-0100"}))
	c, err := e.c.Contact(ctx, "ana")
	require.NoError(t, err)
	assert.Equal(t, "+14155550100", c.Phone)

	err = e.c.PutContact(ctx, notify.Contact{UserID: "bob", Phone: "415 555 0100"})
	var ve *notify.ValidationError
	require.ErrorAs(t, err, &ve)
	assert.Equal(t, "phone", ve.Field)
	assert.Contains(t, ve.Reason, "no country code")

	_, err = e.c.Send(ctx, notify.Notification{To: []notify.Address{{Channel: "sms", Value: "+14155550100"}, {Channel: "sms", Value: "0100"}},
		Content: &notify.Message{Body: "x"}})
	require.ErrorAs(t, err, &ve)
	assert.Equal(t, "to[1].value", ve.Field)
}
