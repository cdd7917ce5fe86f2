package email_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"

	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/sesv2"

	"github.com/gonotify/notify"
	"github.com/gonotify/notify/channel/email"
)

func ExampleNew() {
	// Region and credentials come from the environment, as for any AWS SDK client.
	awsCfg, err := config.LoadDefaultConfig(context.Background())
	if err != nil {
		fmt.Println(err)
		return
	}
	ch, err := email.New(sesv2.NewFromConfig(awsCfg), email.Config{
		From:             "Acme <no-reply@acme.example>",
		ConfigurationSet: "notify-events", // its event destination reports bounces and complaints
		// Bulk categories carry List-Unsubscribe with one-click; transactional ones do not.
		Unsubscribe: func(d *notify.Delivery) ([]string, bool) {
			if strings.HasPrefix(d.Category, "marketing") {
				return []string{"https://acme.example/unsubscribe?d=" + d.ID}, true
			}
			return nil, false
		},
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
		Category: "marketing",
		Template: "spring-sale",
		Options: map[string]any{
			notify.ChannelEmail: email.Options{
				From:            "Acme Deals <deals@acme.example>",
				ReplyTo:         []string{"support@acme.example"},
				Headers:         map[string]string{"X-Campaign": "spring-2026"},
				ListUnsubscribe: []string{"https://acme.example/u/spring", "mailto:unsubscribe@acme.example"},
				OneClick:        true,
			},
		},
	}
	fmt.Println(n.Options[notify.ChannelEmail].(email.Options).OneClick)
	// Output: true
}

// SES publishes a configuration set's events to an SNS topic; an
// EventHandler on that topic's HTTPS subscription records them in the
// Dispatcher's log and acts on them: a permanent bounce removes the
// address, a complaint opts the user out of the category's email.
func ExampleNewEventHandler() {
	var d *notify.Dispatcher // built with an email.Channel whose Config.ConfigurationSet publishes to the topic
	h, err := email.NewEventHandler(email.EventHandlerConfig{
		Recorder:  d,
		TopicARNs: []string{"arn:aws:sns:us-east-1:123456789012:ses-events"},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	mux := http.NewServeMux() // your API's
	mux.Handle("POST /ses/events", h)
}

// NormalizeAddress gives the form the Channel stores and sends to: a bare
// address, the part before the @ as written, the domain in lower-case
// ASCII.
func ExampleNormalizeAddress() {
	for _, in := range []string{"Ann+News@Example.COM", "ann@Bücher.example.", "Ann <ann@example.com>"} {
		out, err := email.NormalizeAddress(in)
		if err != nil {
			fmt.Println("refused:", err)
			continue
		}
		fmt.Println(out)
	}
	// Output:
	// Ann+News@example.com
	// ann@xn--bcher-kva.example
	// refused: "Ann <ann@example.com>" has a display name or a comment: give the bare address (ann@example.com)
}
