package unsubscribe_test

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"

	"github.com/gonotify/notify"
	"github.com/gonotify/notify/notifytest"
	qmem "github.com/gonotify/notify/queue/memory"
	smem "github.com/gonotify/notify/store/memory"
	"github.com/gonotify/notify/unsubscribe"
)

func Example() {
	ctx := context.Background()
	q := qmem.New(qmem.Config{})
	defer q.Close()
	d, _ := notify.New(notify.Config{Queue: q, Store: smem.New(smem.Config{}),
		Channels: []notify.Channel{notifytest.NewChannel(notify.ChannelEmail)}, Logger: slog.New(slog.DiscardHandler)})

	key := []byte("32 random bytes, from a secret!!") // openssl rand -base64 32
	s, _ := unsubscribe.New(unsubscribe.Config{BaseURL: "https://u.example.com", Keys: [][]byte{key}, Categories: []string{"news"}})
	h, _ := unsubscribe.NewHandler(unsubscribe.HandlerConfig{Signer: s, Preferences: d})
	// email.Config{Unsubscribe: s.Unsubscribe} puts the link in List-Unsubscribe.
	targets, oneClick := s.Unsubscribe(&notify.Delivery{UserID: "ana", Category: "news", Channel: notify.ChannelEmail})
	fmt.Println(strings.HasPrefix(targets[0], "https://u.example.com/u/"), oneClick)

	// The mail client's one-click POST (RFC 8058).
	r := httptest.NewRequest(http.MethodPost, targets[0], strings.NewReader("List-Unsubscribe=One-Click"))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	allowed, _ := d.Allowed(ctx, "ana", "news", notify.ChannelEmail)
	fmt.Println(w.Code, "news by email allowed:", allowed)
	// Output:
	// true true
	// 200 news by email allowed: false
}
