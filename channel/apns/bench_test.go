package apns_test

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gonotify/notify"
	"github.com/gonotify/notify/channel/apns"
	"github.com/gonotify/notify/channel/apns/apnstest"
	"github.com/gonotify/notify/internal/proccpu"
	"github.com/sideshow/apns2"
	"github.com/sideshow/apns2/token"
	"golang.org/x/net/http2"
)

// serverEnv, when set to a base64 .p8 key, makes the test binary run a
// local APNs (apnstest) verifying JWTs signed by that key instead of the
// tests: the benchmarks start it as a child process, so that the CPU time
// of the client and of the server are measured apart.
const serverEnv = "APNS_BENCH_SERVER_KEY"

func TestMain(m *testing.M) {
	if k := os.Getenv(serverEnv); k != "" {
		if err := serveChild(k); err != nil {
			fmt.Fprintln(os.Stderr, "apns bench server:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// serveChild runs the server of a benchmark: it prints its URL and
// certificate, answers each "cpu" line on stdin with its CPU time in
// nanoseconds, and stops when stdin closes.
func serveChild(key64 string) error {
	p8, err := base64.StdEncoding.DecodeString(key64)
	if err != nil {
		return err
	}
	priv, err := token.AuthKeyFromBytes(p8)
	if err != nil {
		return err
	}
	srv := apnstest.NewServer(apnstest.Config{Key: &priv.PublicKey, KeyID: keyID, TeamID: teamID, NoRecord: true})
	defer srv.Close()
	fmt.Printf("%s %s\n", srv.URL, base64.StdEncoding.EncodeToString(srv.Certificate().Raw))
	in := bufio.NewScanner(os.Stdin)
	for in.Scan() {
		if in.Text() == "cpu" {
			fmt.Println(int64(proccpu.Used()), srv.Connections())
		}
	}
	return nil
}

// childServer is a local APNs running in a child process.
type childServer struct {
	cmd   *exec.Cmd
	in    io.WriteCloser
	out   *bufio.Scanner
	url   string
	roots *x509.CertPool
	p8    []byte
}

func startChildServer(b *testing.B) *childServer {
	b.Helper()
	p8, _, err := apnstest.NewAuthKey()
	if err != nil {
		b.Fatal(err)
	}
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), serverEnv+"="+base64.StdEncoding.EncodeToString(p8))
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
	s := &childServer{cmd: cmd, in: in, out: bufio.NewScanner(stdout), p8: p8}
	b.Cleanup(func() {
		_ = s.in.Close()
		_ = s.cmd.Wait()
	})
	if !s.out.Scan() {
		b.Fatalf("bench server did not start: %v", s.out.Err())
	}
	url, cert64, ok := strings.Cut(s.out.Text(), " ")
	der, err := base64.StdEncoding.DecodeString(cert64)
	if !ok || err != nil {
		b.Fatalf("bench server said %q", s.out.Text())
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		b.Fatal(err)
	}
	s.url, s.roots = url, x509.NewCertPool()
	s.roots.AddCert(cert)
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

// BenchmarkSend measures pushes/s through one Channel with 1, 2 and 4
// HTTP/2 connections (Config.Connections) and 100 concurrent senders, the
// way a Dispatcher with 100 APNs workers uses it, and, as the peer, the
// same pushes through a bare apns2 client (one connection, the
// notification built once beforehand). The local APNs (apnstest, checking
// every push's headers, payload and JWT) runs in a child process on the
// same CPUs; the benchmark fails unless the server saw exactly the
// connections configured. Besides pushes/s it reports pushes/s per connection and the
// CPU time per push of each side, read from the OS (getrusage):
// client-cpu-us is this process (building the push, apns2, HTTP/2, TLS),
// server-cpu-us the child's; pushes/client-core-s is 1e6 / client-cpu-us,
// the pushes one fully busy core of the client sustains.
func BenchmarkSend(b *testing.B) {
	const senders = 100
	b.Run("apns2", func(b *testing.B) {
		srv := startChildServer(b)
		key, err := token.AuthKeyFromBytes(srv.p8)
		if err != nil {
			b.Fatal(err)
		}
		client := apns2.NewTokenClient(&token.Token{AuthKey: key, KeyID: keyID, TeamID: teamID})
		client.Host = srv.url
		client.HTTPClient.Transport.(*http2.Transport).TLSClientConfig = &tls.Config{RootCAs: srv.roots} //lint:ignore SA1019 apns2's own transport
		ns := make([]*apns2.Notification, senders)
		for i := range ns {
			d := delivery(b, tok(i), nil)
			payload, err := json.Marshal(map[string]any{
				"aps":                    map[string]any{"alert": map[string]string{"title": d.Message.Title, "subtitle": d.Message.Subtitle, "body": d.Message.Body}},
				"thread":                 d.Message.Data["thread"],
				notify.PushDeliveryIDKey: d.ID,
			})
			if err != nil {
				b.Fatal(err)
			}
			ns[i] = &apns2.Notification{ApnsID: d.ID, DeviceToken: d.Address, Topic: topic, PushType: apns2.PushTypeAlert, Payload: payload}
		}
		benchPushes(b, srv, 1, senders, func(ctx context.Context, g int) error {
			res, err := client.PushWithContext(ctx, ns[g])
			if err == nil && !res.Sent() {
				err = fmt.Errorf("apns answered %d %s", res.StatusCode, res.Reason)
			}
			return err
		})
	})
	for _, conns := range []int{1, 2, 4} {
		b.Run(fmt.Sprintf("conns=%d", conns), func(b *testing.B) {
			srv := startChildServer(b)
			ch, err := apns.New(apns.Config{
				AuthKey: srv.p8, KeyID: keyID, TeamID: teamID, Host: srv.url, RootCAs: srv.roots, Topic: topic,
				Connections: conns,
			})
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { _ = ch.Close() })
			ds := make([]*notify.Delivery, senders)
			for i := range ds {
				ds[i] = delivery(b, tok(i), nil)
			}
			benchPushes(b, srv, conns, senders, func(ctx context.Context, g int) error {
				_, err := ch.Send(ctx, ds[g])
				return err
			})
		})
	}
}

// benchPushes runs b.N pushes from senders goroutines (push(ctx, g) is
// sender g's push) and reports the figures BenchmarkSend describes.
func benchPushes(b *testing.B, srv *childServer, conns, senders int, push func(ctx context.Context, g int) error) {
	ctx := context.Background()
	// Warm up: open every connection and sign the JWT once.
	var warm sync.WaitGroup
	for i := range 4 * conns {
		warm.Go(func() {
			if err := push(ctx, i%senders); err != nil {
				b.Error(err)
			}
		})
	}
	warm.Wait()
	if b.Failed() {
		b.FailNow()
	}
	var next, failed atomic.Int64
	b.ReportAllocs()
	srvCPU0, conns0 := srv.cpu(b)
	cliCPU0 := proccpu.Used()
	b.ResetTimer()
	start := time.Now()
	var wg sync.WaitGroup
	for g := range senders {
		wg.Go(func() {
			for next.Add(1) <= int64(b.N) {
				if err := push(ctx, g); err != nil {
					failed.Add(1)
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
	if n := failed.Load(); n > 0 {
		b.Fatalf("%d of %d pushes failed", n, b.N)
	}
	if conns0 != conns || conns1 != conns {
		b.Fatalf("the server saw %d connections after the warm-up and %d at the end; want %d", conns0, conns1, conns)
	}
	rate := float64(b.N) / elapsed.Seconds()
	b.ReportMetric(rate, "pushes/s")
	b.ReportMetric(rate/float64(conns), "pushes/s/conn")
	if cliCPU > 0 {
		perPush := cliCPU.Seconds() * 1e6 / float64(b.N)
		b.ReportMetric(perPush, "client-cpu-us/push")
		b.ReportMetric(1e6/perPush, "pushes/client-core-s")
		b.ReportMetric(srvCPU.Seconds()*1e6/float64(b.N), "server-cpu-us/push")
	}
}

// BenchmarkValidate measures the accept-side check Send runs per delivery.
func BenchmarkValidate(b *testing.B) {
	ch, _ := tokenSetup(b, nil)
	d := delivery(b, tok(1), map[string]any{"thread_id": "t", "collapse_id": "c", "sound": "default"})
	b.ReportAllocs()
	for b.Loop() {
		if err := ch.Validate(d); err != nil {
			b.Fatal(err)
		}
	}
}
