package email_test

import (
	"context"
	"fmt"
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
