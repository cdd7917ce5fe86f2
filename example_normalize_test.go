package notify_test

import (
	"errors"
	"fmt"
	"strings"

	"github.com/gonotify/notify"
	qmem "github.com/gonotify/notify/queue/memory"
	smem "github.com/gonotify/notify/store/memory"
)

// digitsChannel is an SMS channel whose addresses are written many ways:
// its AddressNormalizer keeps a number's digits after a "+".
type digitsChannel struct{ printChannel }

func (digitsChannel) NormalizeAddress(a string) (string, error) {
	if !strings.HasPrefix(a, "+") {
		return "", errors.New("no country code: write it as +14155550100")
	}
	return "+" + strings.Map(func(r rune) rune {
		if r < '0' || r > '9' {
			return -1
		}
		return r
	}, a), nil
}

// A channel that implements notify.AddressNormalizer (channel/sms,
// channel/email) has every address of its passed through it: PutContact
// and NormalizeContact store the normal form and refuse, naming the
// field, what Send would refuse.
func ExampleAddressNormalizer() {
	queue := qmem.New(qmem.Config{})
	defer queue.Close()
	d, err := notify.New(notify.Config{Queue: queue, Store: smem.New(smem.Config{}),
		Channels: []notify.Channel{digitsChannel{printChannel{notify.ChannelSMS}}}})
	if err != nil {
		fmt.Println(err)
		return
	}
	c, err := d.NormalizeContact(notify.Contact{UserID: "ana", Phone: "+1 (415) 555-0100"})
	fmt.Println(c.Phone, err)
	_, err = d.NormalizeContact(notify.Contact{UserID: "bob", Phone: "415 555 0100"})
	fmt.Println(err)
	// Output:
	// +14155550100 <nil>
	// notify: invalid notification: Phone: no country code: write it as +14155550100
}
