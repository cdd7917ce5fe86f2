package email_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/gonotify/notify/channel/email"
)

// BenchmarkSend is one Channel.Send (SigV4 signing, JSON, the per-call
// retryer override) over loopback HTTP to a minimal SendEmail endpoint.
func BenchmarkSend(b *testing.B) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"MessageId":"0100018c-bench"}`))
	}))
	defer srv.Close()
	ch, err := email.New(newSES(srv.URL), email.Config{From: "Acme <no-reply@acme.example>"})
	if err != nil {
		b.Fatal(err)
	}
	d := delivery("ann@example.com")
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ch.Send(b.Context(), d); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkValidate is the accept-time check of one delivery.
func BenchmarkValidate(b *testing.B) {
	ch, err := email.New(newSES("http://127.0.0.1:1"), email.Config{From: "Acme <no-reply@acme.example>"})
	if err != nil {
		b.Fatal(err)
	}
	d := delivery("Ann Example <ann@example.com>")
	b.ReportAllocs()
	for b.Loop() {
		if err := ch.Validate(d); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkNormalizeAddress is what Send and PutContact add per email
// address: an ASCII address, and one with an internationalized domain.
func BenchmarkNormalizeAddress(b *testing.B) {
	for _, in := range []string{"Ann+News@Example.COM", "ann@bücher.example"} {
		b.Run(in, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := email.NormalizeAddress(in); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
