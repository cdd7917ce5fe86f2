package notifyhttp

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/gonotify/notify"
)

// BenchmarkSend sends one notification per request through the real HTTP
// stack (httptest server, net/http client, keep-alive) on the memory
// backends: signed (the client signs, the server verifies, checks the
// replay cache and the key's limit) against the same handler with
// authentication bypassed and nothing signed. The difference is the whole
// cost of authentication.
func BenchmarkSend(b *testing.B) {
	for _, signed := range []bool{true, false} {
		name := "signed"
		if !signed {
			name = "noauth"
		}
		b.Run(name, func(b *testing.B) {
			e := newEnv(b)
			e.h.noAuth = !signed
			ctx := context.Background()
			if err := e.d.PutContact(ctx, notify.Contact{UserID: "ana", Phone: "+15005550006"}); err != nil {
				b.Fatal(err)
			}
			k := e.admin
			k.Limit = &notify.Limit{Rate: 1 << 30, Per: time.Second}
			_ = e.keys.PutKey(ctx, k)
			client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
			url := e.srv.URL + "/v1/notifications"
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; b.Loop(); i++ {
				body := []byte(`{"event_id":"bench-` + strconv.Itoa(i) + `","user_id":"ana","content":{"body":"hello"}}`)
				req, _ := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
				req.Header.Set("Content-Type", "application/json")
				if signed {
					SignRequest(req, body, e.admin.ID, e.secret, time.Now())
				}
				resp, err := client.Do(req)
				if err != nil {
					b.Fatal(err)
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusAccepted {
					b.Fatalf("status %d", resp.StatusCode)
				}
			}
		})
	}
}

// BenchmarkSendBatch sends batches of 500 notifications, signed, and
// reports notifications/s.
func BenchmarkSendBatch(b *testing.B) {
	const size = 500
	e := newEnv(b)
	ctx := context.Background()
	if err := e.d.PutContact(ctx, notify.Contact{UserID: "ana", Phone: "+15005550006"}); err != nil {
		b.Fatal(err)
	}
	client := &http.Client{}
	url := e.srv.URL + "/v1/notifications:batch"
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	n := 0
	for i := 0; b.Loop(); i++ {
		br := BatchRequest{Notifications: make([]notify.Notification, size)}
		for j := range br.Notifications {
			br.Notifications[j] = notify.Notification{EventID: "b-" + strconv.Itoa(i) + "-" + strconv.Itoa(j), UserID: "ana", Content: &notify.Message{Body: "hello"}}
		}
		body, _ := json.Marshal(br)
		req, _ := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		SignRequest(req, body, e.admin.ID, e.secret, time.Now())
		resp, err := client.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			b.Fatalf("status %d", resp.StatusCode)
		}
		n += size
	}
	b.ReportMetric(float64(n)/time.Since(start).Seconds(), "notifications/s")
}
