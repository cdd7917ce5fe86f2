package sms_test

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"
	"time"

	"github.com/twilio/twilio-go"
	"github.com/twilio/twilio-go/client"
	twilioapi "github.com/twilio/twilio-go/rest/api/v2010"

	"github.com/gonotify/notify/channel/sms"
	"github.com/gonotify/notify/internal/proccpu"
)

const benchReply = `{"sid":"SM0123456789abcdef0123456789abcdef","status":"queued","num_segments":"1","to":"+14155550100","from":"+15005550006"}`

func benchServer(b *testing.B) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusCreated)
		_, _ = w.Write([]byte(benchReply))
	}))
	b.Cleanup(srv.Close)
	return srv
}

// BenchmarkSend is one Channel.Send over loopback HTTP to a minimal
// Messages API: the channel's per-send client and context transport included.
func BenchmarkSend(b *testing.B) {
	srv := benchServer(b)
	ch, err := sms.New(sms.Config{AccountSID: testSID, AuthToken: testToken, From: testFrom, BaseURL: srv.URL})
	if err != nil {
		b.Fatal(err)
	}
	d := delivery("+14155550100", "Your code is 123456")
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ch.Send(b.Context(), d); err != nil {
			b.Fatal(err)
		}
	}
}

// rewrite sends every request to the test server (twilio-go has no base URL).
type rewrite struct {
	base *url.URL
	rt   http.RoundTripper
}

func (r rewrite) RoundTrip(req *http.Request) (*http.Response, error) {
	req = req.Clone(req.Context())
	req.URL.Scheme, req.URL.Host = r.base.Scheme, r.base.Host
	return r.rt.RoundTrip(req)
}

// BenchmarkSendSDKShared is the same call through one shared twilio-go
// RestClient (no context, no per-request capture): the baseline the
// channel's per-send wrapping is measured against.
func BenchmarkSendSDKShared(b *testing.B) {
	srv := benchServer(b)
	u, _ := url.Parse(srv.URL)
	base := &client.Client{Credentials: client.NewCredentials(testSID, testToken),
		HTTPClient: &http.Client{Transport: rewrite{u, http.DefaultTransport.(*http.Transport).Clone()}}}
	base.SetAccountSid(testSID)
	rc := twilio.NewRestClientWithParams(twilio.ClientParams{Client: base})
	params := &twilioapi.CreateMessageParams{}
	params.SetTo("+14155550100").SetFrom(testFrom).SetBody("Your code is 123456")
	b.ReportAllocs()
	for b.Loop() {
		if _, err := rc.Api.CreateMessage(params); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSendParallel is Send from many goroutines at once.
func BenchmarkSendParallel(b *testing.B) {
	srv := benchServer(b)
	ch, err := sms.New(sms.Config{AccountSID: testSID, AuthToken: testToken, From: testFrom, BaseURL: srv.URL})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		d := delivery("+14155550100", "Your code is 123456")
		for pb.Next() {
			if _, err := ch.Send(b.Context(), d); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkNormalizeAddress is what Send and PutContact add per phone
// number: one already in E.164, and one in national form.
func BenchmarkNormalizeAddress(b *testing.B) {
	ch, err := sms.New(sms.Config{AccountSID: testSID, AuthToken: testToken, From: testFrom, DefaultRegion: "GB"})
	if err != nil {
		b.Fatal(err)
	}
	for _, in := range []string{"+447400123456", "07400 123456"} {
		b.Run(in, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := ch.NormalizeAddress(in); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkNormalizeStored is NormalizeAddress as Send calls it on the
// numbers it reads back from the Store: E.164 numbers already normalised
// when they were stored. "repeat" is one number over and over (a
// service sending to the same users); "distinct" cycles through more
// numbers than any cache holds, so every call parses. cpu-ns/op is the
// process's CPU time per call (garbage collection included), steadier
// than the wall-clock time on a loaded machine.
func BenchmarkNormalizeStored(b *testing.B) {
	ch, err := sms.New(sms.Config{AccountSID: testSID, AuthToken: testToken, From: testFrom, DefaultRegion: "GB"})
	if err != nil {
		b.Fatal(err)
	}
	b.Run("repeat", func(b *testing.B) {
		b.ReportAllocs()
		cpu := proccpu.Used()
		for b.Loop() {
			if _, err := ch.NormalizeAddress("+447400123456"); err != nil {
				b.Fatal(err)
			}
		}
		reportCPU(b, cpu)
	})
	b.Run("distinct", func(b *testing.B) {
		numbers := make([]string, 1<<17)
		for i := range numbers {
			numbers[i] = fmt.Sprintf("+447400%06d", i)
		}
		b.ReportAllocs()
		i := 0
		cpu := proccpu.Used()
		for b.Loop() {
			if _, err := ch.NormalizeAddress(numbers[i%len(numbers)]); err != nil {
				b.Fatal(err)
			}
			i++
		}
		reportCPU(b, cpu)
	})
}

// reportCPU reports the process's CPU time since start per iteration, where
// the OS tells it.
func reportCPU(b *testing.B, start time.Duration) {
	if used := proccpu.Used(); used > 0 {
		b.ReportMetric(float64(used-start)/float64(b.N), "cpu-ns/op")
	}
}
