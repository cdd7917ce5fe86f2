package fcm

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/gonotify/notify"
	"golang.org/x/oauth2"
)

// FuzzValidate: whatever the address, options and content, Validate either
// refuses with a *notify.ValidationError naming a field, or the message has
// exactly one target and fits FCM's payload limit.
func FuzzValidate(f *testing.F) {
	tok := "dXk3:APA91b" + strings.Repeat("x", 140)
	f.Add(tok, `{"android_ttl":3600000000000,"android_priority":"high"}`, "title", "body", "k", "v")
	f.Add("/topics/news", `{"topic":"news"}`, "t", "", "from", "x")
	f.Add("condition:'a' in topics", `{"apns":{"payload":{"aps":{"badge":1}}}}`, "", "b", "a", "b")
	f.Add(tok, `{"android":{"ttl":"-1s"}}`, "t", "b", "", "")
	f.Add(tok, `{"webpush":{"headers":{"TTL":"x"}}}`, "t", "b", "google.x", "")
	ch, err := New(context.Background(), Config{ProjectID: "p", TokenSource: oauth2.StaticTokenSource(&oauth2.Token{AccessToken: "x"})})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, addr, opts, title, body, k, v string) {
		d := &notify.Delivery{ID: "d1", Address: addr, Options: json.RawMessage(opts),
			Message: notify.Message{Title: title, Body: body, Data: map[string]string{k: v}}}
		if err := ch.Validate(d); err != nil {
			var ve *notify.ValidationError
			if !errors.As(err, &ve) || ve.Field == "" || ve.Reason == "" {
				t.Fatalf("not a ValidationError naming a field: %#v", err)
			}
			return
		}
		m, err := ch.build(d, d.CreatedAt)
		if err != nil {
			t.Fatalf("Validate accepted what build refuses: %v", err)
		}
		targets := 0
		for _, s := range []string{m.Token, m.Topic, m.Condition} {
			if s != "" {
				targets++
			}
		}
		if targets != 1 {
			t.Fatalf("%d targets", targets)
		}
		if len(title)+len(body)+len(k)+len(v) > MaxPayload {
			t.Fatalf("accepted %d bytes", len(title)+len(body)+len(k)+len(v))
		}
	})
}
