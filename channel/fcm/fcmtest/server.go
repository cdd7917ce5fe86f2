// Package fcmtest runs a local server that speaks the FCM HTTP v1 API
// (projects.messages.send), for tests and demos of code that sends through
// channel/fcm or the Firebase Admin SDK.
//
// The server checks the path and project, the bearer token, the JSON
// request and its single target, and answers the way FCM does: 200 with
// {"name": "projects/<p>/messages/<id>"}, or a Google API error body
// {"error": {"code", "message", "status", "details": [{"@type":
// ".../google.firebase.fcm.v1.FcmError", "errorCode"}]}}. A Handler scripts
// the answer for requests that pass those checks; every request is recorded.
//
// Limits: nothing is delivered; tokens are not checked against real
// registrations.
package fcmtest

import (
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"firebase.google.com/go/v4/messaging"
)

// Request is one send the server received.
type Request struct {
	Header http.Header
	// Body is the raw request; Message is its "message", decoded with the
	// SDK's own types.
	Body         []byte
	Message      *messaging.Message
	ValidateOnly bool
}

// Reply is the answer to one send. The zero Reply is 200 with a message name.
type Reply struct {
	// Status is the HTTP status; zero is 200.
	Status int
	// ErrorStatus is the Google API status ("UNAVAILABLE", "INVALID_ARGUMENT", ...).
	ErrorStatus string
	// ErrorCode is FCM's own error code in the details ("UNREGISTERED", ...).
	ErrorCode string
	// Message is the error's human-readable message.
	Message string
	// RetryAfter is sent as the Retry-After header when set.
	RetryAfter string
	// RawBody, when set, replaces the body verbatim.
	RawBody string
	// Drop aborts the request without an answer (a transport error).
	Drop bool
	// Delay holds the answer back this long (or until the client gives up).
	Delay time.Duration
}

// Config configures a Server.
type Config struct {
	// ProjectID is the project the path must name. Default "test-project".
	ProjectID string
	// AccessToken is the OAuth2 bearer token requests must carry; empty
	// accepts any non-empty bearer token.
	AccessToken string
	// Handler answers requests that pass the checks; nil answers 200.
	Handler func(*Request) Reply
	// NoRecord stops the server from keeping requests; benchmarks set it.
	NoRecord bool
	// TLS serves HTTPS with HTTP/2, as FCM does, instead of plain HTTP/1.1;
	// the client must then trust RootCAs.
	TLS bool
}

// Server is a local FCM. Its URL+"/v1" goes in fcm.Config.Endpoint.
// Safe for concurrent use.
type Server struct {
	*httptest.Server
	cfg Config

	mu       sync.Mutex
	requests []*Request
	handler  func(*Request) Reply
	n        atomic.Int64
	hits     atomic.Int64
	conns    atomic.Int64
}

// NewServer starts a Server on 127.0.0.1, plain HTTP/1.1 unless Config.TLS
// asks for HTTPS with HTTP/2. Close it when done.
func NewServer(cfg Config) *Server {
	if cfg.ProjectID == "" {
		cfg.ProjectID = "test-project"
	}
	s := &Server{cfg: cfg, handler: cfg.Handler}
	s.Server = httptest.NewUnstartedServer(http.HandlerFunc(s.serve))
	s.Config.ErrorLog = log.New(io.Discard, "", 0)
	s.Config.ConnState = func(_ net.Conn, st http.ConnState) {
		if st == http.StateNew {
			s.conns.Add(1)
		}
	}
	if cfg.TLS {
		s.EnableHTTP2 = true
		s.StartTLS()
	} else {
		s.Start()
	}
	return s
}

// RootCAs returns a pool that trusts the server's certificate (with
// Config.TLS).
func (s *Server) RootCAs() *x509.CertPool {
	pool := x509.NewCertPool()
	if c := s.Certificate(); c != nil {
		pool.AddCert(c)
	}
	return pool
}

// Endpoint is the URL for fcm.Config.Endpoint.
func (s *Server) Endpoint() string { return s.URL + "/v1" }

// SetHandler replaces the Handler.
func (s *Server) SetHandler(h func(*Request) Reply) {
	s.mu.Lock()
	s.handler = h
	s.mu.Unlock()
}

// Requests returns the requests that passed the checks, oldest first.
func (s *Server) Requests() []*Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]*Request(nil), s.requests...)
}

// Hits counts every HTTP request received, including refused ones.
func (s *Server) Hits() int { return int(s.hits.Load()) }

// Connections returns how many connections clients have opened so far.
func (s *Server) Connections() int { return int(s.conns.Load()) }

// Reset forgets the recorded requests.
func (s *Server) Reset() {
	s.mu.Lock()
	s.requests = nil
	s.mu.Unlock()
	s.hits.Store(0)
}

var statusCodes = map[string]int{
	"INVALID_ARGUMENT": 400, "UNAUTHENTICATED": 401, "PERMISSION_DENIED": 403, "NOT_FOUND": 404,
	"RESOURCE_EXHAUSTED": 429, "INTERNAL": 500, "UNAVAILABLE": 503,
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	s.hits.Add(1)
	fail := func(status int, st, msg string) { writeError(w, Reply{Status: status, ErrorStatus: st, Message: msg}) }
	want := "/v1/projects/" + s.cfg.ProjectID + "/messages:send"
	if r.Method != http.MethodPost || r.URL.Path != want {
		fail(404, "NOT_FOUND", fmt.Sprintf("%s %s: not found (want POST %s)", r.Method, r.URL.Path, want))
		return
	}
	auth := r.Header.Get("Authorization")
	bearer, ok := strings.CutPrefix(auth, "Bearer ")
	if !ok || bearer == "" || (s.cfg.AccessToken != "" && bearer != s.cfg.AccessToken) {
		fail(401, "UNAUTHENTICATED", "Request had invalid authentication credentials. Expected OAuth 2 access token.")
		return
	}
	if !strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") {
		fail(400, "INVALID_ARGUMENT", "content type must be application/json")
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		return
	}
	var env struct {
		ValidateOnly bool            `json:"validate_only"`
		Message      json.RawMessage `json:"message"`
	}
	if err := json.Unmarshal(body, &env); err != nil || len(env.Message) == 0 {
		fail(400, "INVALID_ARGUMENT", "Invalid JSON payload received.")
		return
	}
	req := &Request{Header: r.Header.Clone(), Body: body, ValidateOnly: env.ValidateOnly, Message: &messaging.Message{}}
	if err := json.Unmarshal(env.Message, req.Message); err != nil {
		fail(400, "INVALID_ARGUMENT", "Invalid JSON payload received. "+err.Error())
		return
	}
	targets := 0
	for _, t := range []string{req.Message.Token, req.Message.Topic, req.Message.Condition} {
		if t != "" {
			targets++
		}
	}
	if targets != 1 {
		fail(400, "INVALID_ARGUMENT", "Request contains an invalid argument: exactly one of token, topic or condition must be set.")
		return
	}
	s.mu.Lock()
	h := s.handler
	if !s.cfg.NoRecord {
		s.requests = append(s.requests, req)
	}
	s.mu.Unlock()
	var rep Reply
	if h != nil {
		rep = h(req)
	}
	if rep.Delay > 0 {
		select {
		case <-time.After(rep.Delay):
		case <-r.Context().Done():
			return
		}
	}
	if rep.Drop {
		panic(http.ErrAbortHandler) // the client sees a transport error
	}
	if rep.RetryAfter != "" {
		w.Header().Set("Retry-After", rep.RetryAfter)
	}
	if rep.Status == 0 && rep.ErrorStatus != "" {
		rep.Status = statusCodes[rep.ErrorStatus]
	}
	if rep.Status == 0 || rep.Status == http.StatusOK {
		if rep.RawBody != "" {
			w.Header().Set("Content-Type", "application/json")
			_, _ = io.WriteString(w, rep.RawBody)
			return
		}
		w.Header().Set("Content-Type", "application/json; charset=UTF-8")
		_ = json.NewEncoder(w).Encode(map[string]string{"name": fmt.Sprintf("projects/%s/messages/%d", s.cfg.ProjectID, s.n.Add(1))})
		return
	}
	writeError(w, rep)
}

func writeError(w http.ResponseWriter, rep Reply) {
	status := rep.Status
	if status == 0 {
		status = statusCodes[rep.ErrorStatus]
	}
	if rep.RawBody != "" {
		w.Header().Set("Content-Type", "text/html")
		w.WriteHeader(status)
		_, _ = io.WriteString(w, rep.RawBody)
		return
	}
	e := map[string]any{"code": status, "message": rep.Message, "status": rep.ErrorStatus}
	if rep.ErrorCode != "" {
		e["details"] = []map[string]string{{"@type": "type.googleapis.com/google.firebase.fcm.v1.FcmError", "errorCode": rep.ErrorCode}}
	}
	w.Header().Set("Content-Type", "application/json; charset=UTF-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{"error": e})
}
