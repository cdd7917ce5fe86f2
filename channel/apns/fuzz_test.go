package apns

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/gonotify/notify"
	"github.com/sideshow/apns2"
)

// FuzzBuild: whatever the token, options and content, build either refuses
// with a *notify.ValidationError or produces a push APNs's own checks accept.
func FuzzBuild(f *testing.F) {
	tok := strings.Repeat("ab", 32)
	f.Add(tok, `{"collapse_id":"c","badge":1,"custom":{"k":[1,2]}}`, "title", "body")
	f.Add(tok, `{"push_type":"background"}`, "", "")
	f.Add(tok, `{"push_type":"voip","priority":10}`, strings.Repeat("x", 5000), "")
	f.Add(tok, `{"push_type":"liveactivity","event":"end"}`, "t", "b")
	f.Add("zz", `null`, "t", "b")
	f.Add(tok, `{"colapse_id":1}`, "t", "b")
	f.Add(tok, `{"custom":{"aps":1}}`, "t", "b")
	ch := &Channel{name: "apns", cfg: Config{Topic: "com.example.app"}, tokenAuth: true}
	f.Fuzz(func(t *testing.T, token, opts, title, body string) {
		d := &notify.Delivery{ID: "0190c2a4-0000-7000-8000-000000000000", Address: token,
			Options: json.RawMessage(opts), Message: notify.Message{Title: title, Body: body}}
		n, err := ch.build(d, time.Now())
		if err != nil {
			var ve *notify.ValidationError
			if !errors.As(err, &ve) || ve.Field == "" || ve.Reason == "" {
				t.Fatalf("build error is not a ValidationError naming a field: %#v", err)
			}
			return
		}
		payload, ok := n.Payload.([]byte)
		if !ok || !json.Valid(payload) {
			t.Fatalf("payload is not JSON: %q", n.Payload)
		}
		limit := MaxPayload
		if n.PushType == apns2.PushTypeVOIP {
			limit = MaxVoIPPayload
		}
		if len(payload) > limit {
			t.Fatalf("accepted a %d-byte payload over %d", len(payload), limit)
		}
		var p map[string]any
		if err := json.Unmarshal(payload, &p); err != nil {
			t.Fatal(err)
		}
		if _, ok := p["aps"].(map[string]any); !ok {
			t.Fatalf("payload has no aps dictionary: %s", payload)
		}
		if checkToken(n.DeviceToken) != nil || len(n.CollapseID) > MaxCollapseID || n.Topic == "" || !knownPushType(n.PushType) {
			t.Fatalf("accepted a push APNs refuses: %+v", n)
		}
		switch n.Priority {
		case 0, 1, 5, 10:
		default:
			t.Fatalf("priority %d", n.Priority)
		}
	})
}
