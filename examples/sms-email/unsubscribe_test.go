package main

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/sesv2"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gonotify/notify"
	"github.com/gonotify/notify/channel/email"
	qmem "github.com/gonotify/notify/queue/memory"
	smem "github.com/gonotify/notify/store/memory"
	"github.com/gonotify/notify/unsubscribe"
)

// sesRecorder is an SES v2 endpoint that accepts every SendEmail and keeps
// the headers of each.
type sesRecorder struct {
	mu      sync.Mutex
	headers []map[string]string
}

func (s *sesRecorder) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Content struct {
			Simple struct {
				Headers []struct{ Name, Value string }
			}
		}
	}
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	h := map[string]string{}
	for _, kv := range req.Content.Simple.Headers {
		h[kv.Name] = kv.Value
	}
	s.mu.Lock()
	s.headers = append(s.headers, h)
	s.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write([]byte(`{"MessageId":"m-1"}`))
}

func (s *sesRecorder) sent() []map[string]string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]map[string]string(nil), s.headers...)
}

// The List-Unsubscribe header the email channel writes from
// unsubscribe.Signer.Unsubscribe is a link the unsubscribe Handler obeys:
// a one-click POST to it opts the user out of the category's email, and
// the next email of the category is skipped.
func TestOneClickUnsubscribeFromEmailHeader(t *testing.T) {
	ses := &sesRecorder{}
	sesSrv := httptest.NewServer(ses)
	defer sesSrv.Close()
	mux := http.NewServeMux()
	unsubSrv := httptest.NewTLSServer(mux) // the email channel wants https targets
	defer unsubSrv.Close()

	signer, err := unsubscribe.New(unsubscribe.Config{BaseURL: unsubSrv.URL, Keys: [][]byte{[]byte("an example key of 32 bytes......")},
		Categories: []string{"news"}})
	require.NoError(t, err)
	logger := slog.New(slog.DiscardHandler)
	api := sesv2.New(sesv2.Options{Region: "us-east-1", BaseEndpoint: aws.String(sesSrv.URL),
		Credentials: credentials.NewStaticCredentialsProvider("local", "local", "")})
	emailCh, err := email.New(api, email.Config{From: "Acme <no-reply@acme.example>", Unsubscribe: signer.Unsubscribe, Logger: logger})
	require.NoError(t, err)
	queue := qmem.New(qmem.Config{})
	defer queue.Close()
	store := smem.New(smem.Config{})
	d, err := notify.New(notify.Config{Queue: queue, Store: store, Channels: []notify.Channel{emailCh}, Logger: logger})
	require.NoError(t, err)
	h, err := unsubscribe.NewHandler(unsubscribe.HandlerConfig{Signer: signer, Preferences: d, Logger: logger})
	require.NoError(t, err)
	mux.Handle(unsubscribe.Path, h)
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	defer func() { cancel(); assert.NoError(t, <-done) }()

	require.NoError(t, d.PutContact(t.Context(), notify.Contact{UserID: "ana", Email: "ana@example.com"}))
	send := func(category string) notify.Receipt {
		t.Helper()
		r, err := d.Send(t.Context(), notify.Notification{UserID: "ana", Category: category,
			Content: &notify.Message{Subject: "Hi", Text: "Hello"}})
		require.NoError(t, err)
		wctx, wcancel := context.WithTimeout(t.Context(), 20*time.Second)
		defer wcancel()
		_, err = waitFinal(wctx, d, r.NotificationID)
		require.NoError(t, err)
		return r
	}

	send("news")
	send("security")
	got := ses.sent()
	require.Len(t, got, 2)
	assert.NotContains(t, got[1], "List-Unsubscribe", "a category without links (transactional) gets no header")
	header := got[0]["List-Unsubscribe"]
	require.True(t, strings.HasPrefix(header, "<"+unsubSrv.URL+unsubscribe.Path) && strings.HasSuffix(header, ">"), header)
	assert.Equal(t, "List-Unsubscribe=One-Click", got[0]["List-Unsubscribe-Post"])
	link := strings.TrimSuffix(strings.TrimPrefix(header, "<"), ">")

	// What a mail client does with the two headers (RFC 8058 section 3.2).
	resp, err := unsubSrv.Client().PostForm(link, url.Values{"List-Unsubscribe": {"One-Click"}})
	require.NoError(t, err)
	_ = resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)

	ok, err := d.Allowed(t.Context(), "ana", "news", notify.ChannelEmail)
	require.NoError(t, err)
	assert.False(t, ok, "the one-click POST opted ana out of news by email")
	r := send("news")
	assert.Equal(t, []notify.Skip{{Channel: notify.ChannelEmail, Reason: notify.ReasonOptedOut}}, r.Skipped)
	send("security")
	assert.Len(t, ses.sent(), 3, "news skipped, security sent")
}
