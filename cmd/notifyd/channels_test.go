package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/gonotify/notify"
	"github.com/gonotify/notify/channel/email"
	"github.com/gonotify/notify/channel/sms"
	qmem "github.com/gonotify/notify/queue/memory"
	smem "github.com/gonotify/notify/store/memory"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

func names(chs []notify.Channel) []string {
	var out []string
	for _, c := range chs {
		out = append(out, c.Name())
	}
	return out
}

func TestConsoleChannelsByDefault(t *testing.T) {
	ctx := context.Background()
	cfg := defaults()
	var stdout bytes.Buffer
	set, err := buildChannels(ctx, &cfg, quiet, &stdout, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	defer set.close()
	all := []string{"apns", "fcm", "sms", "email"}
	if !slices.Equal(names(set.channels), all) || !slices.Equal(set.console, all) {
		t.Fatalf("channels %v, console %v; want every provider as a console channel", names(set.channels), set.console)
	}

	// What each provider would receive, one JSON line each.
	msg := notify.Message{Title: "T", Body: "B", Subject: "S", Text: "X", HTML: "<p>H</p>", Data: map[string]string{"k": "v"}}
	for _, ch := range set.channels {
		d := &notify.Delivery{ID: "d-" + ch.Name(), NotificationID: "n1", Channel: ch.Name(), Address: "addr-" + ch.Name(), Message: msg, Attempt: 1}
		res, err := ch.Send(ctx, d)
		if err != nil || res.ProviderID == "" {
			t.Fatalf("%s: %+v, %v", ch.Name(), res, err)
		}
	}
	lines := strings.Split(strings.TrimSpace(stdout.String()), "\n")
	if len(lines) != 4 {
		t.Fatalf("%d lines, want 4:\n%s", len(lines), stdout.String())
	}
	want := map[string][]string{
		"apns":  {`"device_token":"addr-apns"`, `"aps":{"alert":{"body":"B","subtitle":"","title":"T"}}`, `"k":"v"`},
		"fcm":   {`"token":"addr-fcm"`, `"notification":{"body":"B","title":"T"}`},
		"sms":   {`"To":"addr-sms"`, `"Body":"B"`},
		"email": {`"ToAddresses":["addr-email"]`, `"Subject":{"Data":"S"}`, `"Html":{"Data":"\u003cp\u003eH\u003c/p\u003e"}`},
	}
	for _, line := range lines {
		var l consoleLine
		if err := json.Unmarshal([]byte(line), &l); err != nil {
			t.Fatalf("%q: %v", line, err)
		}
		if l.DeliveryID != "d-"+l.Channel || l.NotificationID != "n1" || l.Attempt != 1 {
			t.Errorf("line %s", line)
		}
		for _, w := range want[l.Channel] {
			if !strings.Contains(line, w) {
				t.Errorf("%s line lacks %s: %s", l.Channel, w, line)
			}
		}
	}

	// A canceled context is a retryable failure, and prints nothing.
	canceled, cancel := context.WithCancel(ctx)
	cancel()
	stdout.Reset()
	_, err = set.channels[0].Send(canceled, &notify.Delivery{ID: "x"})
	if err == nil || notify.Classify(err).Outcome != notify.OutcomeRetry || stdout.Len() != 0 {
		t.Errorf("canceled: %v, printed %q", err, stdout.String())
	}

	cfg.Console = false
	if _, err := buildChannels(ctx, &cfg, quiet, io.Discard, io.Discard); err == nil || !strings.Contains(err.Error(), "no channel") {
		t.Errorf("--console=false without credentials: %v, want an error", err)
	}
}

// TestProviderChannelsAndWebhooks configures Twilio and SES (no call is
// made): their real channels replace the console ones, and their
// webhooks are mounted and check signatures.
func TestProviderChannelsAndWebhooks(t *testing.T) {
	ctx := context.Background()
	t.Setenv("AWS_ACCESS_KEY_ID", "test")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "test")
	cfg := defaults()
	cfg.TwilioAccountSID, cfg.TwilioAuthToken, cfg.TwilioFrom = "AC0123", "token0123", "+15005550006"
	cfg.TwilioStatusCallback = "https://notify.example/v1/webhooks/twilio"
	cfg.SESFrom, cfg.SESRegion, cfg.SESTopicARNs = "no-reply@acme.example", "us-east-1", []string{"arn:aws:sns:us-east-1:123456789012:events"}
	set, err := buildChannels(ctx, &cfg, quiet, io.Discard, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	defer set.close()
	if !slices.Equal(set.console, []string{"apns", "fcm"}) {
		t.Errorf("console channels %v, want apns and fcm only", set.console)
	}
	var haveSMS, haveEmail bool
	for _, ch := range set.channels {
		switch ch.(type) {
		case *sms.Channel:
			haveSMS = true
		case *email.Channel:
			haveEmail = true
		}
	}
	if !haveSMS || !haveEmail {
		t.Fatalf("channels %T: want the real sms and email channels", set.channels)
	}

	q := qmem.New(qmem.Config{})
	defer q.Close()
	d, err := notify.New(notify.Config{Queue: q, Store: smem.New(smem.Config{}), Channels: set.channels, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	hooks, err := webhooks(&cfg, d, quiet)
	if err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{twilioWebhookPath, sesWebhookPath} {
		h := hooks[path]
		if h == nil {
			t.Fatalf("no webhook at %s: %v", path, hooks)
		}
		// Unsigned: refused.
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest(http.MethodPost, path, strings.NewReader(`{"Type":"Notification"}`)))
		if w.Code < 400 || w.Code >= 500 {
			t.Errorf("%s, unsigned: %d, want a 4xx refusal", path, w.Code)
		}
	}

	// Without the callback URL and the topics, no webhook.
	cfg.TwilioStatusCallback, cfg.SESTopicARNs = "", nil
	if hooks, err := webhooks(&cfg, d, quiet); err != nil || len(hooks) != 0 {
		t.Errorf("webhooks without their settings: %v, %v", hooks, err)
	}

	// A bad credential is an error naming the flags.
	bad := defaults()
	bad.TwilioAccountSID = "AC0123"
	if _, err := buildChannels(ctx, &bad, quiet, io.Discard, io.Discard); err == nil || !strings.Contains(err.Error(), "--twilio-") {
		t.Errorf("twilio without a token: %v", err)
	}
}

// TestSMSNumberSettings: --sms-default-region lets contacts use national
// numbers, stored as E.164, and landlines stay refused until
// --sms-allow-landlines.
func TestSMSNumberSettings(t *testing.T) {
	ctx := context.Background()
	normalize := func(cfg Config, number string) (string, error) {
		t.Helper()
		cfg.TwilioAccountSID, cfg.TwilioAuthToken, cfg.TwilioFrom = "AC0123", "token0123", "+15005550006"
		set, err := buildChannels(ctx, &cfg, quiet, io.Discard, io.Discard)
		if err != nil {
			t.Fatal(err)
		}
		defer set.close()
		for _, ch := range set.channels {
			if n, ok := notify.As[notify.AddressNormalizer](ch); ok && ch.Name() == notify.ChannelSMS {
				return n.NormalizeAddress(number)
			}
		}
		t.Fatal("no sms channel with an AddressNormalizer")
		return "", nil
	}
	cfg := defaults()
	if _, err := normalize(cfg, "(415) 555-0100"); err == nil {
		t.Error("a national number without --sms-default-region was accepted")
	}
	cfg.SMSDefaultRegion = "US"
	if got, err := normalize(cfg, "(415) 555-0100"); err != nil || got != "+14155550100" {
		t.Errorf("national number with region US: %q, %v; want +14155550100", got, err)
	}
	const landline = "+44 20 7946 0000" // a London fixed line
	if _, err := normalize(cfg, landline); err == nil {
		t.Error("a landline was accepted without --sms-allow-landlines")
	}
	cfg.SMSAllowLandlines = true
	if got, err := normalize(cfg, landline); err != nil || got != "+442079460000" {
		t.Errorf("landline with --sms-allow-landlines: %q, %v", got, err)
	}
}

// TestBadDefaultTimeZone: serve refuses a --default-time-zone that is not
// an IANA name, and says which setting is wrong.
func TestBadDefaultTimeZone(t *testing.T) {
	cfg := defaults()
	cfg.Memory = true
	cfg.Addr = "127.0.0.1:0"
	cfg.DefaultTimeZone = "Mars/Olympus_Mons"
	err := serve(context.Background(), &cfg, io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "--default-time-zone") {
		t.Fatalf("serve with an unknown zone: %v, want an error naming --default-time-zone", err)
	}
}
