package fcm_test

import (
	"context"
	"fmt"

	"github.com/gonotify/notify"
	"github.com/gonotify/notify/channel/fcm"
	"github.com/gonotify/notify/channel/fcm/fcmtest"
	"golang.org/x/oauth2"
)

// A Channel sending to a local FCM. In production, drop Endpoint and
// TokenSource and give CredentialsFile (a service-account key) or rely on
// Application Default Credentials.
func Example() {
	srv := fcmtest.NewServer(fcmtest.Config{ProjectID: "my-project"})
	defer srv.Close()

	ch, err := fcm.New(context.Background(), fcm.Config{
		ProjectID: "my-project", Endpoint: srv.Endpoint(),
		TokenSource: oauth2.StaticTokenSource(&oauth2.Token{AccessToken: "local"}),
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	// The Dispatcher builds deliveries from a Notification whose
	// Options["fcm"] is an fcm.Options; here we build one by hand.
	d := &notify.Delivery{
		ID: "d1", Address: "/topics/weather",
		Message: notify.Message{Title: "Storm warning", Body: "Tonight, 22:00"},
		Options: []byte(`{"topic":"weather","android_collapse_key":"storm","android_priority":"high"}`),
	}
	if err := ch.Validate(d); err != nil {
		fmt.Println("rejected:", err)
		return
	}
	res, err := ch.Send(context.Background(), d)
	if err != nil {
		fmt.Println("outcome:", notify.Classify(err).Outcome)
		return
	}
	m := srv.Requests()[0].Message
	fmt.Println(res.ProviderID)
	fmt.Println(m.Topic, m.Android.Priority, m.Android.CollapseKey, m.Notification.Title)
	// Output:
	// projects/my-project/messages/1
	// weather high storm Storm warning
}
