package sqs_test

import (
	"context"
	"fmt"
	"log"
	"time"

	"github.com/gonotify/notify"
	"github.com/gonotify/notify/queue/sqs"
)

// A Queue on SQS with credentials and region from the environment (the
// default AWS configuration chain), creating its queues and their
// dead-letter queues on first use. Endpoint points it at a local server; leave
// it empty for AWS.
func ExampleNew() {
	ctx := context.Background()
	q, err := sqs.New(ctx, sqs.Config{
		Endpoint:     "http://127.0.0.1:59324", // fauxqs; "" for AWS
		CreateQueues: true,
		Visibility:   time.Minute, // a send must finish within the lease
	})
	if err != nil {
		log.Fatal(err)
	}
	defer q.Close() // flushes pending acks

	var _ notify.Queue = q // pass it as notify.Config.Queue
}

// Existing queues, named explicitly, FIFO so that one user's notifications
// arrive in order. Their dead-letter queues are found through their redrive
// policies.
func ExampleNew_fifo() {
	q, err := sqs.New(context.Background(), sqs.Config{
		FIFO: true,
		QueueURLs: map[string]string{
			"notify.sms":  "https://sqs.eu-west-1.amazonaws.com/123456789012/prod-sms.fifo",
			"notify.apns": "https://sqs.eu-west-1.amazonaws.com/123456789012/prod-apns.fifo",
		},
	})
	if err != nil {
		log.Fatal(err)
	}
	defer q.Close()
}

// The SQS queue name a notify queue gets.
func ExampleName() {
	fmt.Println(sqs.Name("notify.sms", false))
	fmt.Println(sqs.Name("notify.sms", true))
	// Output:
	// notify-sms
	// notify-sms.fifo
}
