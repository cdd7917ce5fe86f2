package email_test

import (
	"encoding/json"
	"net/mail"
	"strings"
	"testing"

	"github.com/gonotify/notify/channel/email"
)

// FuzzValidate feeds arbitrary addresses, subjects and header values to
// Validate: it must never panic, and whatever it accepts must be safe to
// hand to SES (a parseable single address, no line break that could inject
// a header).
func FuzzValidate(f *testing.F) {
	f.Add("ann@example.com", "Hello", "v")
	f.Add("Zoë <zoe@example.com>", "Résumé", "a b")
	f.Add("a@b.c\r\nBcc: x@y.z", "s\nBcc: x", "v\r\nX: y")
	f.Add("\"quoted, name\" <q@example.com>", "", "\x00")
	f.Add("a@example.com, b@example.com", "x", strings.Repeat("v", 1000))
	ch, err := email.New(newSES("http://127.0.0.1:1"), email.Config{From: "Acme <a@acme.example>"})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, addr, subject, header string) {
		d := delivery(addr)
		d.Message.Subject = subject
		opts, err := json.Marshal(email.Options{Headers: map[string]string{"X-Fuzz": header}})
		if err != nil {
			t.Skip()
		}
		d.Options = opts
		if ch.Validate(d) != nil {
			return
		}
		if strings.ContainsAny(addr, "\r\n") || strings.ContainsAny(subject, "\r\n") || strings.ContainsAny(header, "\r\n") {
			t.Fatalf("accepted a line break: addr %q subject %q header %q", addr, subject, header)
		}
		if _, err := mail.ParseAddress(addr); err != nil {
			t.Fatalf("accepted %q, which net/mail rejects: %v", addr, err)
		}
		for i := 0; i < len(header); i++ {
			if c := header[i]; c > 126 || (c < 32 && c != '\t') {
				t.Fatalf("accepted a non-printable header value %q", header)
			}
		}
	})
}
