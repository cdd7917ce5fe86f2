package fcm_test

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	firebase "firebase.google.com/go/v4"
	"firebase.google.com/go/v4/messaging"
	"github.com/gonotify/notify"
	"github.com/gonotify/notify/channel/fcm"
	"github.com/gonotify/notify/channel/fcm/fcmtest"
	"github.com/gonotify/notify/internal/proccpu"
	"golang.org/x/oauth2"
	"google.golang.org/api/option"
)

// serverEnv, when set ("http1" or "h2"), makes the test binary run a local
// FCM (fcmtest; plain HTTP/1.1, or HTTPS with HTTP/2) instead of the tests: the benchmarks start it as a child process, so that
// the CPU time of the client and of the server are measured apart.
const serverEnv = "FCM_BENCH_SERVER"

func TestMain(m *testing.M) {
	if wire := os.Getenv(serverEnv); wire != "" {
		serveChild(wire == "h2")
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// serveChild runs the server of a benchmark: it prints its endpoint and
// certificate ("-" without TLS), answers each "cpu" line on stdin with its
// CPU time in nanoseconds and the connections opened to it, and stops when
// stdin closes.
func serveChild(tls bool) {
	srv := fcmtest.NewServer(fcmtest.Config{ProjectID: project, AccessToken: accessToken, NoRecord: true, TLS: tls})
	defer srv.Close()
	cert := "-"
	if tls {
		cert = base64.StdEncoding.EncodeToString(srv.Certificate().Raw)
	}
	fmt.Println(srv.Endpoint(), cert)
	in := bufio.NewScanner(os.Stdin)
	for in.Scan() {
		if in.Text() == "cpu" {
			fmt.Println(int64(proccpu.Used()), srv.Connections())
		}
	}
}

// childServer is a local FCM running in a child process.
type childServer struct {
	in       io.WriteCloser
	out      *bufio.Scanner
	endpoint string
	// opts are the client options that reach it: with TLS, an HTTP client
	// built like the SDK's own (a clone of http.DefaultTransport, HTTP/2,
	// 100 idle connections per host) that trusts the server.
	opts []option.ClientOption
}

func startChildServer(b *testing.B, wire string) *childServer {
	b.Helper()
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), serverEnv+"="+wire)
	cmd.Stderr = os.Stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		b.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	s := &childServer{in: in, out: bufio.NewScanner(stdout)}
	b.Cleanup(func() {
		_ = s.in.Close()
		_ = cmd.Wait()
	})
	if !s.out.Scan() {
		b.Fatalf("bench server did not start: %v", s.out.Err())
	}
	endpoint, cert64, _ := strings.Cut(s.out.Text(), " ")
	s.endpoint = endpoint
	ts := oauth2.StaticTokenSource(&oauth2.Token{AccessToken: accessToken, TokenType: "Bearer"})
	s.opts = []option.ClientOption{option.WithEndpoint(endpoint), option.WithTokenSource(ts)}
	if cert64 != "-" {
		der, err := base64.StdEncoding.DecodeString(cert64)
		if err != nil {
			b.Fatalf("bench server said %q", s.out.Text())
		}
		cert, err := x509.ParseCertificate(der)
		if err != nil {
			b.Fatal(err)
		}
		roots := x509.NewCertPool()
		roots.AddCert(cert)
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.MaxIdleConnsPerHost = 100
		tr.TLSClientConfig = &tls.Config{RootCAs: roots}
		s.opts = append(s.opts, option.WithHTTPClient(&http.Client{Transport: &oauth2.Transport{Source: ts, Base: tr}}))
	}
	return s
}

// cpu returns the child's CPU time so far and the connections clients
// opened to it.
func (s *childServer) cpu(b *testing.B) (time.Duration, int) {
	b.Helper()
	if _, err := io.WriteString(s.in, "cpu\n"); err != nil {
		b.Fatal(err)
	}
	if !s.out.Scan() {
		b.Fatalf("bench server: %v", s.out.Err())
	}
	var ns int64
	var conns int
	if _, err := fmt.Sscan(s.out.Text(), &ns, &conns); err != nil {
		b.Fatalf("bench server said %q: %v", s.out.Text(), err)
	}
	return time.Duration(ns), conns
}

// BenchmarkSendBatch measures pushes/s through SendBatch in batches of
// MaxBatch (500), with 1, 2 and 4 batches in flight at once, as a
// Dispatcher with that many FCM batch workers runs them, and, as the peer,
// the SDK's own SendEach with the same concurrency on messages built once
// beforehand (no building, no validation). Each batch is one SendEach: one
// HTTP request per message, 50 at a time. The local FCM (fcmtest) runs in a
// child process on the same CPUs, over HTTPS with HTTP/2 as FCM itself
// ("h2", every request a stream on one connection) and over plain HTTP/1.1
// ("http1", a connection per request in flight). client-cpu-us and
// server-cpu-us are the CPU time per push of this process and of the child,
// read from the OS (getrusage), pushes/client-core-s is 1e6 / client-cpu-us,
// and new-conns/1000pushes counts the connections the client opened while
// measured.
func BenchmarkSendBatch(b *testing.B) {
	for _, wire := range []string{"h2", "http1"} {
		for _, conc := range []int{1, 2, 4} {
			b.Run(fmt.Sprintf("%s/sdk/batches=%d", wire, conc), func(b *testing.B) { benchSDK(b, wire, conc) })
			b.Run(fmt.Sprintf("%s/channel/batches=%d", wire, conc), func(b *testing.B) { benchChannel(b, wire, conc) })
		}
	}
}

// benchSDK sends batches with the bare SDK's SendEach.
func benchSDK(b *testing.B, wire string, conc int) {
	srv := startChildServer(b, wire)
	app, err := firebase.NewApp(context.Background(), &firebase.Config{ProjectID: project}, srv.opts...)
	if err != nil {
		b.Fatal(err)
	}
	client, err := app.Messaging(context.Background())
	if err != nil {
		b.Fatal(err)
	}
	msgs := make([]*messaging.Message, fcm.MaxBatch)
	for i := range msgs {
		d := delivery(b, tok(i), nil)
		msgs[i] = &messaging.Message{
			Token:        d.Address,
			Notification: &messaging.Notification{Title: d.Message.Title, Body: d.Message.Body},
			Data:         map[string]string{"thread": d.Message.Data["thread"], notify.PushDeliveryIDKey: d.ID},
		}
	}
	benchBatches(b, srv, conc, func(ctx context.Context, n int) error {
		br, err := client.SendEach(ctx, msgs[:n])
		if err == nil && br.FailureCount > 0 {
			err = fmt.Errorf("%d of %d messages failed", br.FailureCount, n)
		}
		return err
	})
}

// benchChannel sends batches with Channel.SendBatch.
func benchChannel(b *testing.B, wire string, conc int) {
	srv := startChildServer(b, wire)
	ch, err := fcm.New(context.Background(), fcm.Config{ProjectID: project, ClientOptions: srv.opts})
	if err != nil {
		b.Fatal(err)
	}
	ds := make([]*notify.Delivery, fcm.MaxBatch)
	for i := range ds {
		ds[i] = delivery(b, tok(i), nil)
	}
	benchBatches(b, srv, conc, func(ctx context.Context, n int) error {
		_, errs := ch.SendBatch(ctx, ds[:n])
		for _, err := range errs {
			if err != nil {
				return err
			}
		}
		return nil
	})
}

// benchBatches sends b.N pushes in batches of up to MaxBatch from
// concurrent goroutines (send(ctx, n) sends one batch of n) and reports the
// figures BenchmarkSendBatch describes.
func benchBatches(b *testing.B, srv *childServer, concurrent int, send func(ctx context.Context, n int) error) {
	ctx := context.Background()
	// Warm up: open the connections.
	if err := send(ctx, 100); err != nil {
		b.Fatal(err)
	}
	var next atomic.Int64
	var failed atomic.Value
	b.ReportAllocs()
	srvCPU0, conns0 := srv.cpu(b)
	cliCPU0 := proccpu.Used()
	b.ResetTimer()
	start := time.Now()
	var wg sync.WaitGroup
	for range concurrent {
		wg.Go(func() {
			for {
				end := next.Add(fcm.MaxBatch)
				n := min(int64(fcm.MaxBatch), int64(b.N)-(end-fcm.MaxBatch))
				if n <= 0 {
					return
				}
				if err := send(ctx, int(n)); err != nil {
					failed.Store(err)
				}
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	cliCPU := proccpu.Used() - cliCPU0
	srvCPU1, conns1 := srv.cpu(b)
	srvCPU := srvCPU1 - srvCPU0
	if err, _ := failed.Load().(error); err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "pushes/s")
	b.ReportMetric(float64(conns1-conns0)*1000/float64(b.N), "new-conns/1000pushes")
	if cliCPU > 0 {
		perPush := cliCPU.Seconds() * 1e6 / float64(b.N)
		b.ReportMetric(perPush, "client-cpu-us/push")
		b.ReportMetric(1e6/perPush, "pushes/client-core-s")
		b.ReportMetric(srvCPU.Seconds()*1e6/float64(b.N), "server-cpu-us/push")
	}
}

// BenchmarkValidate measures the accept-side check Send runs per delivery,
// the SDK's offline validation included.
func BenchmarkValidate(b *testing.B) {
	ch, _ := setup(b, nil)
	d := delivery(b, tok(1), map[string]any{"android_collapse_key": "c", "android_priority": "high"})
	b.ReportAllocs()
	for b.Loop() {
		if err := ch.Validate(d); err != nil {
			b.Fatal(err)
		}
	}
}
