package apns_test

import (
	"context"
	"fmt"

	"github.com/gonotify/notify"
	"github.com/gonotify/notify/channel/apns"
	"github.com/gonotify/notify/channel/apns/apnstest"
)

// A Channel with token authentication, pushing to a local APNs. In
// production, drop Host and RootCAs, set Production, and read the .p8 key
// from a secret store.
func Example() {
	p8, pub, err := apnstest.NewAuthKey()
	if err != nil {
		fmt.Println(err)
		return
	}
	srv := apnstest.NewServer(apnstest.Config{Key: pub, KeyID: "ABC123DEFG", TeamID: "DEF123GHIJ"})
	defer srv.Close()

	ch, err := apns.New(apns.Config{
		AuthKey: p8, KeyID: "ABC123DEFG", TeamID: "DEF123GHIJ", Topic: "com.example.app",
		Host: srv.URL, RootCAs: srv.RootCAs(),
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer ch.Close()

	// The Dispatcher builds deliveries from a Notification whose
	// Options["apns"] is an apns.Options; here we build one by hand.
	d := &notify.Delivery{
		ID: "0190c2a4-5d6e-7f00-8000-000000000001", Address: "00fc13adff785122b4ad28809a3420982341241421348097878e577c991de8f0",
		Message: notify.Message{Title: "Your order shipped", Body: "Arrives Tuesday"},
		Options: []byte(`{"thread_id":"orders","sound":"default","collapse_id":"order-42"}`),
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
	r := srv.Requests()[0]
	fmt.Println("sent", res.ProviderID)
	fmt.Println(r.Header.Get("apns-topic"), r.Header.Get("apns-collapse-id"))
	fmt.Println(string(r.Body))
	// Output:
	// sent 0190c2a4-5d6e-7f00-8000-000000000001
	// com.example.app order-42
	// {"aps":{"alert":{"title":"Your order shipped","body":"Arrives Tuesday"},"sound":"default","thread-id":"orders"},"notify_delivery_id":"0190c2a4-5d6e-7f00-8000-000000000001"}
}
