package sms_test

import (
	"fmt"
	"net/http"
	"os"
	"strings"

	"github.com/gonotify/notify"
	"github.com/gonotify/notify/channel/sms"
)

func ExampleSegments() {
	for _, body := range []string{
		"Your code is 123456",
		"Price: 10€ [incl. VAT]",            // € [ ] cost two septets each, still GSM-7
		"Ваш код: 123456",                   // Cyrillic: UCS-2
		strings.Repeat("Hello world. ", 13), // 169 characters: two segments of at most 153
	} {
		n, enc := sms.Segments(body)
		fmt.Println(n, enc)
	}
	// Output:
	// 1 GSM-7
	// 1 GSM-7
	// 1 UCS-2
	// 2 GSM-7
}

func ExampleNew() {
	ch, err := sms.New(sms.Config{
		AccountSID: os.Getenv("TWILIO_ACCOUNT_SID"),
		AuthToken:  os.Getenv("TWILIO_AUTH_TOKEN"),
		From:       "+15005550006",
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	// Give the channel to the Dispatcher: notify.Config{Channels: []notify.Channel{ch, ...}}.
	_ = ch
}

// Per-notification settings go under the channel's name in
// Notification.Options.
func ExampleOptions() {
	n := notify.Notification{
		UserID:   "user-42",
		Category: "security",
		Content:  &notify.Message{Body: "Your sign-in code is 123456. It expires in 10 minutes."},
		Channels: []string{notify.ChannelSMS},
		Options: map[string]any{
			notify.ChannelSMS: sms.Options{
				MessagingServiceSID: "MG0123456789abcdef0123456789abcdef",
				ValidityPeriod:      600, // a code that expires in 10 minutes is useless later
			},
		},
	}
	fmt.Println(n.Options[notify.ChannelSMS].(sms.Options).ValidityPeriod)
	// Output: 600
}

// Twilio posts each message's status changes to Config.StatusCallback; a
// StatusHandler mounted there records the final ones in the Dispatcher's
// log ("delivered", or "undelivered" with the reason) and acts on them: a
// dead number is removed from the contact, a STOP stored as an opt-out.
func ExampleNewStatusHandler() {
	var d *notify.Dispatcher // built with an sms.Channel whose Config.StatusCallback is https://api.example.com/twilio/status
	h, err := sms.NewStatusHandler(sms.StatusHandlerConfig{
		AuthToken: os.Getenv("TWILIO_AUTH_TOKEN"), // verifies X-Twilio-Signature
		Recorder:  d,
		PublicURL: "https://api.example.com/twilio/status", // required: the URL Twilio calls, and signs
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	mux := http.NewServeMux() // your API's
	mux.Handle("POST /twilio/status", h)
}
