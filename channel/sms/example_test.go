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

// ParsePhone reads national numbers in the region given and says what kind
// of line each is; a Channel's NormalizeAddress does the same with
// Config.DefaultRegion, and refuses landlines unless Config.AllowLandlines.
func ExampleParsePhone() {
	for _, in := range []struct{ number, region string }{
		{"(415) 555-0100", "US"},
		{"020 7946 0000", "GB"},
		{"0151 12345678", "DE"},
		{"(11) 91234-5678", "BR"},
		{"+91 98765 43210", ""},
		{"(415) 555-0100", ""},
		{"+1 555 123 4567", ""},
	} {
		p, err := sms.ParsePhone(in.number, in.region)
		if err != nil {
			fmt.Println("refused:", err)
			continue
		}
		fmt.Println(p.E164, p.Type, p.Region)
	}
	// Output:
	// +14155550100 fixed_line_or_mobile US
	// +442079460000 fixed_line GB
	// +4915112345678 mobile DE
	// +5511912345678 mobile BR
	// +919876543210 mobile IN
	// refused: "(415) 555-0100" has no country code: write it in international form (+44 20 7946 0000), or set sms.Config.DefaultRegion to read national numbers
	// refused: "+1 555 123 4567" is not a valid number: no range of country code +1 holds it (check for a typo)
}
