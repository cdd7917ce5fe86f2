package apns

import (
	"context"
	"crypto/ecdsa"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"github.com/gonotify/notify"
	"github.com/sideshow/apns2"
	"github.com/sideshow/apns2/certificate"
	"github.com/sideshow/apns2/token"
)

// Config configures a Channel. Give exactly one credential: a signing key
// (AuthKey or AuthKeyFile, with KeyID and TeamID) for token authentication,
// or a certificate (Certificate or CertificateFile) for certificate
// authentication. Zero values of the other fields mean the defaults noted.
type Config struct {
	// AuthKey is the contents of the .p8 signing key from the Apple
	// developer account; AuthKeyFile names a file holding it.
	AuthKey     []byte
	AuthKeyFile string
	// KeyID and TeamID identify the signing key (both required with a key).
	KeyID  string
	TeamID string

	// Certificate is a TLS client certificate for certificate auth;
	// CertificateFile names a .p12 or .pem file holding one, decrypted with
	// CertificatePassword.
	Certificate         *tls.Certificate
	CertificateFile     string
	CertificatePassword string

	// Production selects api.push.apple.com; the default is the sandbox
	// (api.sandbox.push.apple.com), which development builds of an app use.
	Production bool
	// Host overrides the APNs URL ("https://host:port"), for a local test
	// server or a proxy. It takes precedence over Production.
	Host string
	// RootCAs are the roots trusted for the APNs server's certificate; nil
	// means the system's. Tests set it to trust a local server.
	RootCAs *x509.CertPool
	// HTTPClient replaces the client apns2 builds (HTTP/2, TLS, timeouts).
	// When set, it must speak HTTP/2 and, for certificate auth, present the
	// certificate itself; RootCAs is then ignored. Rarely needed.
	HTTPClient *http.Client
	// Connections is how many HTTP/2 connections the Channel keeps to
	// APNs, each through its own apns2 client; a push goes to the one with
	// the fewest pushes in flight. One connection carries many concurrent
	// pushes (up to the stream limit APNs announces); more
	// connections spread the TLS and framing work over more cores and
	// keep one slow or broken connection from stalling every worker.
	// Default 1; at most MaxConnections. The clients share one signing
	// token, so adding connections does not refresh the JWT more often.
	// Must be 0 or 1 with HTTPClient, which decides its own connections.
	Connections int

	// Topic is the default apns-topic, normally the app's bundle ID. Options
	// may override it per notification. Required with token auth unless
	// every notification sets Options.Topic.
	Topic string
	// Name is the channel's name and the Device.Platform it serves.
	// Default "apns" (notify.ChannelAPNs).
	Name string
	// TooManyRequestsDelay is how long a delivery waits after APNs answered
	// 429 TooManyRequests (too many pushes to that one device). Default 1m.
	TooManyRequestsDelay time.Duration
}

// MaxConnections is the most Config.Connections may ask for. Apple
// advises keeping connections few and long-lived, and treats rapid
// connection churn as a denial-of-service attack.
const MaxConnections = 64

// Channel sends deliveries to APNs. It implements notify.Channel and
// notify.Validator, and is safe for concurrent use: build one per credential
// and share it.
type Channel struct {
	name  string
	conns []*conn
	// next is where the search for the least-loaded connection starts, so
	// idle connections take turns.
	next atomic.Uint32
	cfg  Config
	// tokenAuth is set with token authentication, where apns-topic is
	// mandatory.
	tokenAuth bool
}

var (
	_ notify.Channel   = (*Channel)(nil)
	_ notify.Validator = (*Channel)(nil)
)

// New returns a Channel for cfg. It loads the credential and builds the
// client but connects only on the first Send.
func New(cfg Config) (*Channel, error) {
	if cfg.Name == "" {
		cfg.Name = notify.ChannelAPNs
	}
	if cfg.TooManyRequestsDelay <= 0 {
		cfg.TooManyRequestsDelay = time.Minute
	}
	switch {
	case cfg.Connections < 0 || cfg.Connections > MaxConnections:
		return nil, fmt.Errorf("apns: Config.Connections is %d; give 1 to %d (0 means 1)", cfg.Connections, MaxConnections)
	case cfg.Connections == 0:
		cfg.Connections = 1
	}
	if cfg.HTTPClient != nil && cfg.Connections > 1 {
		return nil, errors.New("apns: Config.Connections > 1 needs apns2's own clients; with Config.HTTPClient set, leave Connections 0 and let that client manage its connections")
	}
	hasKey := len(cfg.AuthKey) > 0 || cfg.AuthKeyFile != ""
	hasCert := cfg.Certificate != nil || cfg.CertificateFile != ""
	var newClient func() *apns2.Client
	switch {
	case hasKey && hasCert:
		return nil, errors.New("apns: Config has both a signing key and a certificate; give one credential")
	case hasKey:
		key, err := loadKey(cfg)
		if err != nil {
			return nil, err
		}
		if cfg.KeyID == "" || cfg.TeamID == "" {
			return nil, errors.New("apns: token auth needs Config.KeyID and Config.TeamID (from the Apple developer account's Keys page)")
		}
		// One token for every connection: APNs refuses tokens refreshed
		// more often than every 20 minutes (TooManyProviderTokenUpdates).
		tk := &token.Token{AuthKey: key, KeyID: cfg.KeyID, TeamID: cfg.TeamID}
		newClient = func() *apns2.Client { return apns2.NewTokenClient(tk) }
	case hasCert:
		cert, err := loadCert(cfg)
		if err != nil {
			return nil, err
		}
		newClient = func() *apns2.Client { return apns2.NewClient(cert) }
	default:
		return nil, errors.New("apns: Config has no credential: set AuthKey/AuthKeyFile with KeyID and TeamID, or Certificate/CertificateFile")
	}
	c := &Channel{name: cfg.Name, cfg: cfg, tokenAuth: hasKey}
	for range cfg.Connections {
		// Each apns2 client has its own HTTP/2 transport, hence its own
		// connection.
		client := newClient()
		switch {
		case cfg.Host != "":
			client.Host = strings.TrimSuffix(cfg.Host, "/")
		case cfg.Production:
			client.Production()
		default:
			client.Development()
		}
		if cfg.HTTPClient != nil {
			client.HTTPClient = cfg.HTTPClient
		} else if cfg.RootCAs != nil {
			if err := trustRoots(client, cfg.RootCAs); err != nil {
				return nil, err
			}
		}
		c.conns = append(c.conns, &conn{client: client})
	}
	return c, nil
}

// conn is one apns2 client (one HTTP/2 connection) and the pushes in
// flight on it.
type conn struct {
	client   *apns2.Client
	inflight atomic.Int64
}

// pick returns the connection with the fewest pushes in flight, searching
// from a rotating start so that ties (idle connections) take turns.
func (c *Channel) pick() *conn {
	if len(c.conns) == 1 {
		return c.conns[0]
	}
	n := uint32(len(c.conns))
	start := c.next.Add(1) % n
	best := c.conns[start]
	low := best.inflight.Load()
	for i := uint32(1); i < n && low > 0; i++ {
		cn := c.conns[(start+i)%n]
		if f := cn.inflight.Load(); f < low {
			best, low = cn, f
		}
	}
	return best
}

func loadKey(cfg Config) (*ecdsa.PrivateKey, error) {
	if len(cfg.AuthKey) > 0 {
		key, err := token.AuthKeyFromBytes(cfg.AuthKey)
		if err != nil {
			return nil, fmt.Errorf("apns: read Config.AuthKey (a .p8 PKCS#8 PEM key): %w", err)
		}
		return key, nil
	}
	key, err := token.AuthKeyFromFile(cfg.AuthKeyFile)
	if err != nil {
		return nil, fmt.Errorf("apns: read Config.AuthKeyFile %s (a .p8 PKCS#8 PEM key): %w", cfg.AuthKeyFile, err)
	}
	return key, nil
}

func loadCert(cfg Config) (tls.Certificate, error) {
	if cfg.Certificate != nil {
		return *cfg.Certificate, nil
	}
	var (
		cert tls.Certificate
		err  error
	)
	if strings.HasSuffix(strings.ToLower(cfg.CertificateFile), ".pem") {
		cert, err = certificate.FromPemFile(cfg.CertificateFile, cfg.CertificatePassword)
	} else {
		cert, err = certificate.FromP12File(cfg.CertificateFile, cfg.CertificatePassword)
	}
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("apns: read Config.CertificateFile %s (.p12, or .pem with its key; check CertificatePassword): %w", cfg.CertificateFile, err)
	}
	return cert, nil
}

// Name returns the channel's name, "apns" unless Config.Name says otherwise.
func (c *Channel) Name() string { return c.name }

// Validate checks d at accept time: the device token's form, the options
// and the size of the payload they make. It returns a
// *notify.ValidationError naming the offending field.
func (c *Channel) Validate(d *notify.Delivery) error {
	_, err := c.build(d, time.Now())
	return err
}

// Send pushes d to APNs and classifies the answer with notify's outcome
// errors; the error wraps an *Error when APNs answered. On success the
// Result's ProviderID is the apns-id.
func (c *Channel) Send(ctx context.Context, d *notify.Delivery) (notify.Result, error) {
	n, err := c.build(d, time.Now())
	if err != nil {
		// Validate accepted it at Send time, so the options or the
		// channel's configuration changed since: no retry will help.
		return notify.Result{}, notify.Permanent(fmt.Errorf("apns: build push for delivery %s: %w", d.ID, err))
	}
	cn := c.pick()
	cn.inflight.Add(1)
	res, err := cn.client.PushWithContext(ctx, n)
	cn.inflight.Add(-1)
	if err != nil {
		// A transport error, or an answer whose body was not JSON: APNs
		// may have accepted the push.
		return notify.Result{}, notify.Uncertain(fmt.Errorf("apns: push delivery %s: %w", d.ID, redactToken(err, d.Address)))
	}
	if res.Sent() {
		return notify.Result{ProviderID: res.ApnsID}, nil
	}
	return notify.Result{}, c.classify(res)
}

// Close closes the clients' idle connections. The Channel stays usable; a
// later Send reconnects.
func (c *Channel) Close() error {
	for _, cn := range c.conns {
		if cc, ok := cn.client.HTTPClient.Transport.(interface{ CloseIdleConnections() }); ok {
			cc.CloseIdleConnections()
		}
	}
	return nil
}

// redactToken keeps the device token out of the error (the request URL
// carries it), leaving its first 8 characters to correlate with the log.
func redactToken(err error, tok string) error {
	if len(tok) <= 8 || !strings.Contains(err.Error(), tok) {
		return err
	}
	return &redacted{msg: strings.ReplaceAll(err.Error(), tok, tok[:8]+"…"), err: err}
}

type redacted struct {
	msg string
	err error
}

func (r *redacted) Error() string { return r.msg }
func (r *redacted) Unwrap() error { return r.err }
