// Command push sends a notification to an iOS and an Android device through
// the real APNs and FCM channels, running the whole notify pipeline in
// memory.
//
// With no configuration it runs against local servers that speak APNs's
// HTTP/2 API and FCM's v1 API (channel/apns/apnstest, channel/fcm/fcmtest),
// so it works offline; one of the iOS devices is scripted to answer 410
// Unregistered, to show the token being removed:
//
//	go run ./examples/push
//
// To push to real devices, give credentials and device tokens:
//
//	APNS_KEY_FILE=AuthKey_ABC123DEFG.p8 APNS_KEY_ID=ABC123DEFG APNS_TEAM_ID=DEF123GHIJ \
//	APNS_TOPIC=com.example.app APNS_DEVICE=<hex token> [APNS_PRODUCTION=1] \
//	FCM_CREDENTIALS_FILE=service-account.json FCM_DEVICE=<registration token> \
//	go run ./examples/push
//
// Each provider is real when its variables are set and local otherwise.
// FCM_PROJECT_ID overrides the project named in the credentials; without
// FCM_CREDENTIALS_FILE but with FCM_PROJECT_ID set, Application Default
// Credentials are used.
package main

import (
	"context"
	"fmt"
	"io"
	"log"
	"log/slog"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/gonotify/notify"
	"github.com/gonotify/notify/channel/apns"
	"github.com/gonotify/notify/channel/apns/apnstest"
	"github.com/gonotify/notify/channel/fcm"
	"github.com/gonotify/notify/channel/fcm/fcmtest"
	qmem "github.com/gonotify/notify/queue/memory"
	smem "github.com/gonotify/notify/store/memory"
	"github.com/sideshow/apns2"
	"golang.org/x/oauth2"
)

func main() {
	if err := run(context.Background(), os.Stdout, os.Getenv); err != nil {
		log.Fatal(err)
	}
}

// Local device tokens; the second is scripted to be unregistered.
var (
	localAPNsDevice = strings.Repeat("ab", 32)
	localAPNsGone   = strings.Repeat("cd", 32)
	localFCMDevice  = "fXk3:APA91b" + strings.Repeat("Z", 140)
)

func run(ctx context.Context, out io.Writer, getenv func(string) string) error {
	ach, apnsDevices, closeAPNs, err := apnsChannel(getenv, out)
	if err != nil {
		return err
	}
	defer closeAPNs()
	fch, fcmDevices, closeFCM, err := fcmChannel(ctx, getenv, out)
	if err != nil {
		return err
	}
	defer closeFCM()

	queue := qmem.New(qmem.Config{})
	defer queue.Close()
	store := smem.New(smem.Config{})
	d, err := notify.New(notify.Config{
		Queue: queue, Store: store, Channels: []notify.Channel{ach, fch},
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		return err
	}

	registered := time.Now().Add(-24 * time.Hour)
	contact := notify.Contact{UserID: "ada"}
	for _, t := range apnsDevices {
		contact.Devices = append(contact.Devices, notify.Device{Platform: notify.ChannelAPNs, Token: t, RegisteredAt: registered})
	}
	for _, t := range fcmDevices {
		contact.Devices = append(contact.Devices, notify.Device{Platform: notify.ChannelFCM, Token: t, RegisteredAt: registered})
	}
	if err := store.PutContact(ctx, contact); err != nil {
		return err
	}

	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- d.Run(runCtx) }()
	defer func() { stop(); <-done }()

	badge := 1
	rcpt, err := d.Send(ctx, notify.Notification{
		UserID: "ada", Category: "orders", Priority: notify.PriorityHigh, TTL: time.Hour,
		Content: &notify.Message{Title: "Order 1042 shipped", Subtitle: "notify example", Body: "Arriving Tuesday.", Data: map[string]string{"order": "1042"}},
		Options: map[string]any{
			notify.ChannelAPNs: apns.Options{ThreadID: "orders", Sound: "default", Badge: &badge, CollapseID: "order-1042"},
			notify.ChannelFCM:  fcm.Options{AndroidChannelID: "orders", AndroidCollapseKey: "order-1042"},
		},
	})
	if err != nil {
		return fmt.Errorf("send: %w", err)
	}
	statuses, err := wait(ctx, d, rcpt.NotificationID, 30*time.Second)
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "CHANNEL\tDEVICE\tSTATUS\tPROVIDER ID / REASON")
	for _, s := range statuses {
		detail := s.ProviderID
		if detail == "" {
			detail = s.Reason
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", s.Channel, short(s.Address), s.Status, detail)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	c, err := store.Contact(ctx, "ada")
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "devices left after the send: %d of %d\n", len(c.Devices), len(contact.Devices))
	return nil
}

// short keeps device tokens short on screen.
func short(s string) string {
	if len(s) > 12 {
		return s[:12] + "…"
	}
	return s
}

// wait polls until every delivery of the notification has settled (or
// stays on a configuration error, which keeps it queued).
func wait(ctx context.Context, d *notify.Dispatcher, id string, limit time.Duration) ([]notify.DeliveryRecord, error) {
	deadline := time.Now().Add(limit)
	for {
		ss, err := d.Status(ctx, id)
		if err != nil {
			return nil, err
		}
		settled := len(ss) > 0
		for _, s := range ss {
			settled = settled && (s.Status.Final() || s.Status == notify.StatusConfig)
		}
		if settled || time.Now().After(deadline) {
			return ss, nil
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func apnsChannel(getenv func(string) string, out io.Writer) (*apns.Channel, []string, func(), error) {
	if keyFile := getenv("APNS_KEY_FILE"); keyFile != "" {
		ch, err := apns.New(apns.Config{
			AuthKeyFile: keyFile, KeyID: getenv("APNS_KEY_ID"), TeamID: getenv("APNS_TEAM_ID"),
			Topic: getenv("APNS_TOPIC"), Production: getenv("APNS_PRODUCTION") == "1",
		})
		if err != nil {
			return nil, nil, nil, err
		}
		fmt.Fprintln(out, "APNs: real service")
		return ch, []string{getenv("APNS_DEVICE")}, func() { _ = ch.Close() }, nil
	}
	p8, pub, err := apnstest.NewAuthKey()
	if err != nil {
		return nil, nil, nil, err
	}
	srv := apnstest.NewServer(apnstest.Config{Key: pub, KeyID: "LOCALKEY01", TeamID: "LOCALTEAM1",
		Handler: func(r *apnstest.Request) apnstest.Reply {
			if r.Token == localAPNsGone {
				return apnstest.Reply{Status: 410, Reason: apns2.ReasonUnregistered, Timestamp: time.Now()}
			}
			return apnstest.Reply{}
		}})
	ch, err := apns.New(apns.Config{AuthKey: p8, KeyID: "LOCALKEY01", TeamID: "LOCALTEAM1", Topic: "com.example.app",
		Host: srv.URL, RootCAs: srv.RootCAs()})
	if err != nil {
		srv.Close()
		return nil, nil, nil, err
	}
	fmt.Fprintln(out, "APNs: local server", srv.URL)
	return ch, []string{localAPNsDevice, localAPNsGone}, func() { _ = ch.Close(); srv.Close() }, nil
}

func fcmChannel(ctx context.Context, getenv func(string) string, out io.Writer) (*fcm.Channel, []string, func(), error) {
	if creds, project := getenv("FCM_CREDENTIALS_FILE"), getenv("FCM_PROJECT_ID"); creds != "" || project != "" {
		ch, err := fcm.New(ctx, fcm.Config{ProjectID: project, CredentialsFile: creds})
		if err != nil {
			return nil, nil, nil, err
		}
		fmt.Fprintln(out, "FCM: real service")
		return ch, []string{getenv("FCM_DEVICE")}, func() {}, nil
	}
	srv := fcmtest.NewServer(fcmtest.Config{ProjectID: "local-project", AccessToken: "local-access-token"})
	ch, err := fcm.New(ctx, fcm.Config{ProjectID: "local-project", Endpoint: srv.Endpoint(),
		TokenSource: oauth2.StaticTokenSource(&oauth2.Token{AccessToken: "local-access-token"})})
	if err != nil {
		srv.Close()
		return nil, nil, nil, err
	}
	fmt.Fprintln(out, "FCM: local server", srv.URL)
	return ch, []string{localFCMDevice}, srv.Close, nil
}
