package unsubscribe_test

import (
	"strings"
	"testing"

	"github.com/gonotify/notify/unsubscribe"
)

// FuzzVerify feeds arbitrary tokens to Verify: it never panics, and a
// token it accepts names fields within the limits that, signed again,
// give the same token.
func FuzzVerify(f *testing.F) {
	s, err := unsubscribe.New(unsubscribe.Config{BaseURL: "https://u.example.com", Keys: [][]byte{key1}})
	if err != nil {
		f.Fatal(err)
	}
	for _, fields := range [][3]string{{"ana", "marketing", "email"}, {"u", "*", "*"}, {strings.Repeat("x", 255), "c", "sms"}} {
		link, err := s.Link(fields[0], fields[1], fields[2])
		if err != nil {
			f.Fatal(err)
		}
		f.Add(link[strings.LastIndexByte(link, '/')+1:])
	}
	f.Add("")
	f.Add("AQAA")
	f.Add(strings.Repeat("A", unsubscribe.MaxTokenChars+1))
	f.Fuzz(func(t *testing.T, token string) {
		l, err := s.Verify(token)
		if err != nil {
			return
		}
		for _, v := range []string{l.UserID, l.Category, l.Channel} {
			if v == "" || len(v) > unsubscribe.MaxFieldBytes {
				t.Fatalf("accepted a field of %d bytes", len(v))
			}
		}
		again, err := s.Link(l.UserID, l.Category, l.Channel)
		if err != nil {
			t.Fatalf("accepted %q, which cannot be signed again: %v", token, err)
		}
		if again != "https://u.example.com/u/"+token {
			t.Fatalf("accepted %q, but signing its fields gives %q", token, again)
		}
	})
}
