package main

import (
	"encoding/base64"
	"strings"
	"testing"

	"github.com/gonotify/notify"
)

func TestOpenUnsubscriber(t *testing.T) {
	key := base64.StdEncoding.EncodeToString([]byte("0123456789abcdef0123456789abcdef"))
	s, err := openUnsubscriber(&Config{})
	if err != nil || s != nil {
		t.Fatalf("no flags: got %v, %v; want off", s, err)
	}
	for _, cfg := range []Config{
		{UnsubscribeBaseURL: "https://u.example.com"},
		{UnsubscribeKeys: key},
		{UnsubscribeBaseURL: "https://u.example.com", UnsubscribeKeys: "not base64!"},
		{UnsubscribeBaseURL: "http://u.example.com", UnsubscribeKeys: key},
	} {
		if _, err := openUnsubscriber(&cfg); err == nil || !strings.Contains(err.Error(), "--unsubscribe-") {
			t.Errorf("%+v: got %v; want an error naming the flag", cfg, err)
		}
	}
	s, err = openUnsubscriber(&Config{UnsubscribeBaseURL: "https://u.example.com", UnsubscribeKeys: key, UnsubscribeCategories: "news, marketing"})
	if err != nil {
		t.Fatal(err)
	}
	if targets, oneClick := s.Unsubscribe(&notify.Delivery{UserID: "ana", Category: "news", Channel: "email"}); len(targets) != 1 || !oneClick ||
		!strings.HasPrefix(targets[0], "https://u.example.com/u/") {
		t.Errorf("news: got %v, %v", targets, oneClick)
	}
	if targets, _ := s.Unsubscribe(&notify.Delivery{UserID: "ana", Category: "security", Channel: "email"}); targets != nil {
		t.Errorf("a category not listed got %v", targets)
	}
}
