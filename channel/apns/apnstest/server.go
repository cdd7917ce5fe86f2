// Package apnstest runs a local server that speaks APNs's HTTP/2 provider
// API, for tests and demos of code that pushes through channel/apns (or any
// APNs client).
//
// The server checks what APNs checks — HTTP/2, POST /3/device/<token>, the
// apns-* headers, the JSON payload and its size, and, when it knows the
// signing key, the ES256 JWT in the authorization header (or the TLS client
// certificate) — and answers the way APNs does, with APNs's status codes and
// {"reason": ...} bodies. A Handler scripts the answer for requests that
// pass those checks; every request is recorded.
//
// Limits: it does not store or deliver anything, and it checks the JWT's
// signature, key ID, team ID and age, not Apple's account rules.
package apnstest

import (
	"context"
	"crypto/ecdsa"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Request is one push the server received.
type Request struct {
	// Token is the device token from the path.
	Token  string
	Header http.Header
	// Proto is the HTTP protocol ("HTTP/2.0").
	Proto string
	// Body is the raw payload; Payload is it decoded.
	Body    []byte
	Payload map[string]any
	// JWT is the decoded bearer token with token auth: its header and claims.
	JWTHeader map[string]any
	JWTClaims map[string]any
	// ClientCert is the TLS client certificate's subject common name, when one was presented.
	ClientCert string
}

// Reply is the answer to one push. The zero Reply is 200 OK.
type Reply struct {
	Status int
	// Reason goes in the JSON body {"reason": ...}.
	Reason string
	// Timestamp goes in the body of a 410 (milliseconds since the epoch).
	Timestamp time.Time
	// RawBody, when set, replaces the JSON body verbatim.
	RawBody string
	// Drop closes the connection without an answer (a transport error).
	Drop bool
}

// Config configures a Server.
type Config struct {
	// Key, KeyID and TeamID, when Key is set, make the server require and
	// verify an ES256 bearer JWT signed by Key with kid KeyID and iss TeamID.
	Key    *ecdsa.PublicKey
	KeyID  string
	TeamID string
	// ClientCAs, when set, make the server require a TLS client certificate
	// signed by one of them (certificate auth).
	ClientCAs *x509.CertPool
	// Handler answers requests that pass the server's checks; nil answers
	// 200 to everything. It may be called concurrently.
	Handler func(*Request) Reply
	// NoRecord stops the server from keeping requests for Requests;
	// benchmarks set it.
	NoRecord bool
}

// Server is a local APNs. Its URL goes in apns.Config.Host and RootCAs() in
// apns.Config.RootCAs. Safe for concurrent use.
type Server struct {
	*httptest.Server
	cfg Config

	mu       sync.Mutex
	requests []*Request
	handler  func(*Request) Reply
	conns    int
	// perConn counts the requests each connection carried, by the
	// connection's number (its order of opening).
	perConn []int
	// verified holds JWTs whose signature verified, up to maxVerified.
	verified map[string]struct{}
}

// connKey keys a request's connection number in its context.
type connKey struct{}

// NewServer starts a Server with HTTP/2 over TLS on 127.0.0.1. Close it
// when done.
func NewServer(cfg Config) *Server {
	s := &Server{cfg: cfg, handler: cfg.Handler}
	s.Server = httptest.NewUnstartedServer(http.HandlerFunc(s.serve))
	s.EnableHTTP2 = true
	s.Config.ErrorLog = log.New(io.Discard, "", 0) // refused handshakes are expected in tests
	s.Config.ConnContext = func(ctx context.Context, _ net.Conn) context.Context {
		s.mu.Lock()
		defer s.mu.Unlock()
		s.conns++
		s.perConn = append(s.perConn, 0)
		return context.WithValue(ctx, connKey{}, len(s.perConn)-1)
	}
	if cfg.ClientCAs != nil {
		s.TLS = &tls.Config{ClientCAs: cfg.ClientCAs, ClientAuth: tls.RequireAndVerifyClientCert}
	}
	s.StartTLS()
	return s
}

// RootCAs returns a pool that trusts the server's certificate.
func (s *Server) RootCAs() *x509.CertPool {
	pool := x509.NewCertPool()
	pool.AddCert(s.Certificate())
	return pool
}

// Connections returns how many connections clients have opened so far.
func (s *Server) Connections() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.conns
}

// RequestsPerConnection returns, for each connection clients opened (in
// the order they opened them), how many requests it carried, counting
// refused ones. A test uses it to see that a client really spreads its
// pushes over several connections.
func (s *Server) RequestsPerConnection() []int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]int(nil), s.perConn...)
}

// SetHandler replaces the Handler.
func (s *Server) SetHandler(h func(*Request) Reply) {
	s.mu.Lock()
	s.handler = h
	s.mu.Unlock()
}

// Requests returns the requests received so far, oldest first.
func (s *Server) Requests() []*Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]*Request(nil), s.requests...)
}

// Reset forgets the recorded requests.
func (s *Server) Reset() {
	s.mu.Lock()
	s.requests = nil
	s.mu.Unlock()
}

var pushTypes = map[string]bool{
	"alert": true, "background": true, "location": true, "voip": true, "complication": true,
	"fileprovider": true, "mdm": true, "liveactivity": true, "pushtotalk": true, "widgets": true,
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	if id, ok := r.Context().Value(connKey{}).(int); ok {
		s.mu.Lock()
		s.perConn[id]++
		s.mu.Unlock()
	}
	req := &Request{Header: r.Header.Clone(), Proto: r.Proto}
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		return
	}
	req.Body = body
	if r.TLS != nil && len(r.TLS.PeerCertificates) > 0 {
		req.ClientCert = r.TLS.PeerCertificates[0].Subject.CommonName
	}
	reply := s.check(r, req)
	if reply == nil {
		s.mu.Lock()
		h := s.handler
		s.mu.Unlock()
		rep := Reply{}
		if h != nil {
			rep = h(req)
		}
		reply = &rep
	}
	if !s.cfg.NoRecord {
		s.mu.Lock()
		s.requests = append(s.requests, req)
		s.mu.Unlock()
	}
	write(w, r, reply)
}

// check applies APNs's own checks; a non-nil Reply is the error APNs gives.
func (s *Server) check(r *http.Request, req *Request) *Reply {
	fail := func(status int, reason string) *Reply { return &Reply{Status: status, Reason: reason} }
	if r.ProtoMajor != 2 {
		return fail(http.StatusMethodNotAllowed, "MethodNotAllowed") // APNs speaks HTTP/2 only
	}
	if r.Method != http.MethodPost {
		return fail(http.StatusMethodNotAllowed, "MethodNotAllowed")
	}
	tok, ok := strings.CutPrefix(r.URL.Path, "/3/device/")
	if !ok {
		return fail(http.StatusNotFound, "BadPath")
	}
	req.Token = tok
	if tok == "" {
		return fail(http.StatusBadRequest, "MissingDeviceToken")
	}
	for _, h := range []string{"apns-topic", "apns-push-type", "apns-id", "apns-priority", "apns-expiration", "apns-collapse-id", "authorization"} {
		if len(r.Header.Values(h)) > 1 {
			return fail(http.StatusBadRequest, "DuplicateHeaders")
		}
	}
	if s.cfg.Key != nil {
		auth := r.Header.Get("authorization")
		if auth == "" {
			return fail(http.StatusForbidden, "MissingProviderToken")
		}
		jwt, ok := strings.CutPrefix(auth, "bearer ")
		if !ok {
			return fail(http.StatusForbidden, "InvalidProviderToken")
		}
		hdr, claims, err := s.verifyJWT(jwt)
		req.JWTHeader, req.JWTClaims = hdr, claims
		if err != nil {
			if err == errExpired {
				return fail(http.StatusForbidden, "ExpiredProviderToken")
			}
			return fail(http.StatusForbidden, "InvalidProviderToken")
		}
		if r.Header.Get("apns-topic") == "" {
			return fail(http.StatusBadRequest, "MissingTopic")
		}
	}
	pt := r.Header.Get("apns-push-type")
	if pt != "" && !pushTypes[pt] {
		return fail(http.StatusBadRequest, "InvalidPushType")
	}
	if id := r.Header.Get("apns-id"); id != "" && !uuidLike(id) {
		return fail(http.StatusBadRequest, "BadMessageId")
	}
	if p := r.Header.Get("apns-priority"); p != "" && p != "10" && p != "5" && p != "1" {
		return fail(http.StatusBadRequest, "BadPriority")
	}
	if e := r.Header.Get("apns-expiration"); e != "" {
		if _, err := strconv.ParseInt(e, 10, 64); err != nil {
			return fail(http.StatusBadRequest, "BadExpirationDate")
		}
	}
	if len(r.Header.Get("apns-collapse-id")) > 64 {
		return fail(http.StatusBadRequest, "BadCollapseId")
	}
	limit := 4096
	if pt == "voip" {
		limit = 5120
	}
	if len(req.Body) > limit {
		return fail(http.StatusRequestEntityTooLarge, "PayloadTooLarge")
	}
	if len(req.Body) == 0 {
		return fail(http.StatusBadRequest, "PayloadEmpty")
	}
	if err := json.Unmarshal(req.Body, &req.Payload); err != nil {
		return fail(http.StatusBadRequest, "BadPayload")
	}
	if _, ok := req.Payload["aps"].(map[string]any); !ok {
		return fail(http.StatusBadRequest, "PayloadEmpty")
	}
	return nil
}

func write(w http.ResponseWriter, r *http.Request, rep *Reply) {
	if rep.Drop {
		// Abort the stream without an answer: the client sees a transport error.
		panic(http.ErrAbortHandler)
	}
	id := r.Header.Get("apns-id")
	if id == "" {
		id = "8e1b7a4c-0000-4000-8000-000000000001"
	}
	w.Header().Set("apns-id", id)
	status := rep.Status
	if status == 0 {
		status = http.StatusOK
	}
	if status == http.StatusOK && rep.RawBody == "" {
		w.WriteHeader(status)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	if rep.RawBody != "" {
		_, _ = io.WriteString(w, rep.RawBody)
		return
	}
	body := map[string]any{"reason": rep.Reason}
	if !rep.Timestamp.IsZero() {
		body["timestamp"] = rep.Timestamp.UnixMilli()
	}
	_ = json.NewEncoder(w).Encode(body)
}

func uuidLike(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if i == 8 || i == 13 || i == 18 || i == 23 {
			if c != '-' {
				return false
			}
			continue
		}
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
			return false
		}
	}
	return true
}

var errExpired = errors.New("apnstest: provider token older than an hour")

// maxVerified bounds the cache of verified JWTs.
const maxVerified = 1024

// seen reports whether tok's signature verified before. A provider reuses
// one token for up to an hour, so, like APNs, the server checks a token's
// signature once, not on every push (its age it checks every time).
func (s *Server) seen(tok string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.verified[tok]
	return ok
}

func (s *Server) remember(tok string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.verified == nil || len(s.verified) >= maxVerified {
		s.verified = make(map[string]struct{})
	}
	s.verified[tok] = struct{}{}
}

// verifyJWT checks an ES256 JWT: its signature by the configured key, kid,
// iss and iat (not older than an hour, not in the future).
func (s *Server) verifyJWT(tok string) (hdr, claims map[string]any, err error) {
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		return nil, nil, fmt.Errorf("apnstest: JWT has %d parts", len(parts))
	}
	dec := func(p string, v any) error {
		b, err := base64.RawURLEncoding.DecodeString(p)
		if err != nil {
			return err
		}
		return json.Unmarshal(b, v)
	}
	if err := dec(parts[0], &hdr); err != nil {
		return nil, nil, fmt.Errorf("apnstest: JWT header: %w", err)
	}
	if err := dec(parts[1], &claims); err != nil {
		return hdr, nil, fmt.Errorf("apnstest: JWT claims: %w", err)
	}
	sig, err := base64.RawURLEncoding.DecodeString(parts[2])
	if err != nil || len(sig) != 64 {
		return hdr, claims, fmt.Errorf("apnstest: JWT signature is not a 64-byte ES256 signature")
	}
	if hdr["alg"] != "ES256" || hdr["kid"] != s.cfg.KeyID || claims["iss"] != s.cfg.TeamID {
		return hdr, claims, fmt.Errorf("apnstest: JWT alg/kid/iss mismatch")
	}
	if !s.seen(tok) {
		sum := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
		rr, ss := new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:])
		if !ecdsa.Verify(s.cfg.Key, sum[:], rr, ss) {
			return hdr, claims, fmt.Errorf("apnstest: JWT signature does not verify")
		}
		s.remember(tok)
	}
	iat, ok := claims["iat"].(float64)
	if !ok {
		return hdr, claims, fmt.Errorf("apnstest: JWT has no iat")
	}
	age := time.Since(time.Unix(int64(iat), 0))
	if age > time.Hour {
		return hdr, claims, errExpired
	}
	if age < -time.Minute {
		return hdr, claims, fmt.Errorf("apnstest: JWT issued in the future")
	}
	return hdr, claims, nil
}
