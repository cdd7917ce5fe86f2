package notifyhttp

import (
	"bytes"
	"crypto/rand"
	_ "embed"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/http"
	"net/url"
	"reflect"
	"runtime/debug"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/gonotify/notify"
	dmem "github.com/gonotify/notify/dedup/memory"
)

//go:embed openapi.yaml
var openAPIDoc []byte

// OpenAPI returns the API's OpenAPI document (YAML), as served at
// /v1/openapi.yaml.
func OpenAPI() []byte { return bytes.Clone(openAPIDoc) }

// handler is the API. Build one with newHandler.
type handler struct {
	cfg Config
	log *slog.Logger
	now func() time.Time
	// noAuth, for benchmarks only, skips authentication: every request
	// acts as an admin key.
	noAuth bool
}

func newHandler(cfg Config) (*handler, error) {
	if cfg.Dispatcher == nil {
		return nil, errors.New("notifyhttp: Config.Dispatcher is required")
	}
	if cfg.Keys == nil {
		return nil, errors.New("notifyhttp: Config.Keys is required (NewMemoryKeys, or pgkeys for PostgreSQL)")
	}
	if cfg.MaxBodyBytes <= 0 {
		cfg.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if cfg.MaxBatch <= 0 {
		cfg.MaxBatch = DefaultMaxBatch
	}
	if cfg.MaxSkew <= 0 {
		cfg.MaxSkew = DefaultMaxSkew
	}
	if cfg.Replay == nil {
		cfg.Replay = dmem.New(dmem.Config{})
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	for p, hh := range cfg.Webhooks {
		if !strings.HasPrefix(p, "/") || hh == nil {
			return nil, fmt.Errorf("notifyhttp: Config.Webhooks[%q]: a path starting with \"/\" and a non-nil handler", p)
		}
	}
	return &handler{cfg: cfg, log: cfg.Logger, now: time.Now}, nil
}

// request is one API request being served.
type request struct {
	w      http.ResponseWriter
	r      *http.Request
	id     string   // request ID
	params []string // the route's path parameters, unescaped
	body   []byte
	key    *Key
}

// route is one endpoint.
type route struct {
	method string
	// pattern's segments: a literal, "{}" for a parameter, or "{}:verb"
	// for a parameter followed by a verb.
	pattern []string
	scope   Scope
	serve   func(h *handler, q *request) *Problem
}

var routes = []route{
	{"POST", seg("v1", "notifications"), ScopeSend, (*handler).send},
	{"POST", seg("v1", "notifications:batch"), ScopeSend, (*handler).sendBatch},
	{"GET", seg("v1", "notifications", "{}"), ScopeRead, (*handler).status},
	{"GET", seg("v1", "events", "{}"), ScopeRead, (*handler).statusByEvent},
	{"POST", seg("v1", "notifications", "{}:cancel"), ScopeSend, (*handler).cancelNotification},
	{"POST", seg("v1", "events", "{}:cancel"), ScopeSend, (*handler).cancelEvent},
	{"POST", seg("v1", "deliveries", "{}:replay"), ScopeAdmin, (*handler).replay},
	{"GET", seg("v1", "users", "{}", "contact"), ScopeRead, (*handler).getContact},
	{"PUT", seg("v1", "users", "{}", "contact"), ScopeAdmin, (*handler).putContact},
	{"POST", seg("v1", "users", "{}", "devices"), ScopeAdmin, (*handler).registerDevice},
	{"DELETE", seg("v1", "users", "{}", "devices"), ScopeAdmin, (*handler).unregisterDevice},
	{"GET", seg("v1", "users", "{}", "preferences"), ScopeRead, (*handler).listPreferences},
	{"GET", seg("v1", "users", "{}", "preferences", "{}", "{}"), ScopeRead, (*handler).getPreference},
	{"PUT", seg("v1", "users", "{}", "preferences", "{}", "{}"), ScopeAdmin, (*handler).putPreference},
}

func seg(s ...string) []string { return s }

// match finds the route for method and the request's escaped path: the
// route, its parameters, and whether the path matched some route under
// another method.
func match(method, escapedPath string) (*route, []string, bool, *Problem) {
	parts := strings.Split(strings.TrimPrefix(escapedPath, "/"), "/")
	pathFound := false
	for i := range routes {
		rt := &routes[i]
		if len(rt.pattern) != len(parts) {
			continue
		}
		var params []string
		ok := true
		for j, p := range rt.pattern {
			part := parts[j]
			verb, isParam := strings.CutPrefix(p, "{}")
			if !isParam {
				if part != p {
					ok = false
					break
				}
				continue
			}
			if verb != "" {
				var has bool
				if part, has = strings.CutSuffix(part, verb); !has {
					ok = false
					break
				}
			}
			v, err := url.PathUnescape(part)
			if err != nil || v == "" || !utf8.ValidString(v) {
				return nil, nil, true, malformed("a path parameter is empty, badly percent-encoded or not UTF-8")
			}
			params = append(params, v)
		}
		if !ok {
			continue
		}
		if rt.method == method {
			return rt, params, true, nil
		}
		pathFound = true
	}
	return nil, nil, pathFound, nil
}

// ServeHTTP serves the API.
func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	reqID := r.Header.Get("X-Request-Id")
	if len(reqID) == 0 || len(reqID) > 128 || !validKeyID(reqID) {
		reqID = newRequestID()
	}
	w.Header().Set("X-Request-Id", reqID)
	q := &request{w: w, r: r, id: reqID}
	defer func() {
		if v := recover(); v != nil {
			if v == http.ErrAbortHandler {
				panic(v)
			}
			h.log.ErrorContext(r.Context(), "notifyhttp: panic serving a request", slog.String("request_id", reqID),
				slog.String("method", r.Method), slog.String("path", r.URL.Path), slog.Any("panic", v), slog.String("stack", string(debug.Stack())))
			h.fail(q, newProblem(http.StatusInternalServerError, ProblemInternal, "Internal error", "the server failed; the request ID is in its log"))
		}
	}()
	if p := h.serve(q); p != nil {
		h.fail(q, p)
	}
}

// fail answers p, stamped with the request's path and ID.
func (h *handler) fail(q *request, p *Problem) {
	p.Instance, p.RequestID = q.r.URL.Path, q.id
	writeProblem(q.w, p)
}

func (h *handler) serve(q *request) *Problem {
	r := q.r
	path := r.URL.Path
	for p, wh := range h.cfg.Webhooks {
		if path == p || strings.HasSuffix(p, "/") && strings.HasPrefix(path, p) {
			wh.ServeHTTP(q.w, r)
			return nil
		}
	}
	switch path {
	case "/healthz":
		writeJSON(q.w, http.StatusOK, map[string]string{"status": "ok"})
		return nil
	case "/readyz":
		if h.cfg.Ready != nil {
			if err := h.cfg.Ready(r.Context()); err != nil {
				h.log.WarnContext(r.Context(), "notifyhttp: not ready", slog.String("request_id", q.id), slog.Any("error", err))
				p := newProblem(http.StatusServiceUnavailable, ProblemUnavailable, "Not ready", "a backend is not reachable")
				p.RetryAfter = 1
				return p
			}
		}
		writeJSON(q.w, http.StatusOK, map[string]string{"status": "ready"})
		return nil
	case "/v1/openapi.yaml":
		q.w.Header().Set("Content-Type", "application/yaml")
		_, _ = q.w.Write(openAPIDoc)
		return nil
	}
	rt, params, pathFound, p := match(r.Method, r.URL.EscapedPath())
	if p != nil {
		return p
	}
	if rt == nil {
		if pathFound {
			return newProblem(http.StatusMethodNotAllowed, ProblemMethod, "Method not allowed", r.Method+" is not served at this path")
		}
		return newProblem(http.StatusNotFound, ProblemNoRoute, "Not found", "no endpoint at this path; see /v1/openapi.yaml")
	}
	q.params = params
	body, err := io.ReadAll(http.MaxBytesReader(q.w, r.Body, h.cfg.MaxBodyBytes))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return newProblem(http.StatusRequestEntityTooLarge, ProblemTooLarge, "Request too large",
				fmt.Sprintf("the body is over %d bytes; split a batch into smaller ones", h.cfg.MaxBodyBytes))
		}
		return malformed("the body could not be read")
	}
	q.body = body
	if p := h.authenticate(q, rt.scope); p != nil {
		return p
	}
	return rt.serve(h, q)
}

func newRequestID() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// authenticate checks q's signature, its key and scope, the replay cache
// and the key's rate limit. It writes nothing anywhere until the signature
// is good.
func (h *handler) authenticate(q *request, scope Scope) *Problem {
	if h.noAuth {
		q.key = &Key{ID: "noauth", Scopes: []Scope{ScopeAdmin}}
		return nil
	}
	r := q.r
	ctx := r.Context()
	hdr := r.Header.Values("Authorization")
	if len(hdr) == 0 {
		return unauthorized("no Authorization header: sign the request (" + AuthScheme + " key=..., ts=..., nonce=..., sig=...)")
	}
	if len(hdr) > 1 {
		return unauthorized("more than one Authorization header")
	}
	a, err := parseAuthorization(hdr[0])
	if err != nil {
		return unauthorized("malformed Authorization header: " + err.Error())
	}
	now := h.now()
	skew := time.Duration(math.MaxInt64)
	if d := now.Unix() - a.ts; d > -int64(skew/time.Second) && d < int64(skew/time.Second) {
		skew = time.Duration(d) * time.Second
	}
	if skew > h.cfg.MaxSkew || skew < -h.cfg.MaxSkew {
		return unauthorized(fmt.Sprintf("the request's timestamp is more than %s from the server's clock (server time %d): sign with the current time", h.cfg.MaxSkew, now.Unix()))
	}
	k, err := h.cfg.Keys.Key(ctx, a.keyID)
	switch {
	case errors.Is(err, notify.ErrNotFound):
		return unauthorized("unknown key")
	case err != nil:
		h.log.ErrorContext(ctx, "notifyhttp: key store", slog.String("request_id", q.id), slog.String("key", a.keyID), slog.Any("error", err))
		return unavailable()
	}
	sts := StringToSign(r.Method, r.URL.EscapedPath(), r.URL.RawQuery, a.ts, a.nonce, q.body)
	i := verifySig(&k, sts, a.sig[:])
	if i < 0 {
		return unauthorized("wrong signature: check the secret and the string to sign (method, path, query, ts, nonce, body SHA-256)")
	}
	if k.Secrets[i].Expired(now) {
		return unauthorized("the secret was rotated out: sign with the key's new secret")
	}
	if k.Revoked(now) {
		return forbidden("the key is revoked")
	}
	claimed, _, err := h.cfg.Replay.Claim(ctx, "notifyhttp-sig:"+a.sigHex, k.ID, 2*h.cfg.MaxSkew)
	if err != nil {
		h.log.ErrorContext(ctx, "notifyhttp: replay cache", slog.String("request_id", q.id), slog.Any("error", err))
		return unavailable()
	}
	if !claimed {
		return unauthorized("replayed request: this signature was already used; sign each request (and each retry) anew")
	}
	if !k.Allows(scope) {
		return forbidden("the key lacks the " + string(scope) + " scope")
	}
	if h.cfg.Limiter != nil && k.Limit != nil && !k.Limit.IsZero() {
		dec, err := h.cfg.Limiter.Allow(ctx, notify.LimitRequest{Key: "notifyhttp-key:" + k.ID, Limit: *k.Limit})
		if err != nil {
			h.log.ErrorContext(ctx, "notifyhttp: limiter", slog.String("request_id", q.id), slog.Any("error", err))
			return unavailable()
		}
		if !dec.Allowed {
			p := newProblem(http.StatusTooManyRequests, ProblemRateLimited, "Too many requests", "over the key's rate limit; retry after Retry-After seconds")
			p.RetryAfter = max(1, int(math.Ceil(dec.RetryAfter.Seconds())))
			return p
		}
	}
	q.key = &k
	return nil
}

var (
	errTrailing  = errors.New("trailing data")
	errEmptyBody = errors.New("empty body")
)

// decode reads q's body into v strictly: valid UTF-8, one JSON value, no
// unknown fields, numbers in data kept exact.
func decode(q *request, prefix string, v any) *Problem {
	if len(bytes.TrimSpace(q.body)) == 0 {
		return decodeProblem(prefix, errEmptyBody)
	}
	if !utf8.Valid(q.body) {
		return malformed("the body is not valid UTF-8")
	}
	dec := json.NewDecoder(bytes.NewReader(q.body))
	dec.DisallowUnknownFields()
	dec.UseNumber()
	if err := dec.Decode(v); err != nil {
		return decodeProblem(prefix, err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return decodeProblem(prefix, errTrailing)
	}
	return nil
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

var (
	notificationType = reflect.TypeFor[notify.Notification]()
	contactType      = reflect.TypeFor[notify.Contact]()
)

// problemFor maps a Dispatcher error to a problem; t and prefix turn a
// validation error's Go field path into the API's JSON path. Errors that
// are not the caller's are logged with the request ID, never answered.
func (h *handler) problemFor(q *request, err error, t reflect.Type, prefix string) *Problem {
	var ve *notify.ValidationError
	switch {
	case errors.As(err, &ve):
		return validation(joinField(prefix, jsonPath(t, ve.Field)), ve.Reason)
	case errors.Is(err, notify.ErrInProgress):
		p := newProblem(http.StatusConflict, ProblemInProgress, "In progress",
			"another request with this event_id is still being accepted; retry the same request shortly")
		p.RetryAfter = 1
		return p
	case errors.Is(err, notify.ErrNotDead):
		return newProblem(http.StatusConflict, ProblemNotDead, "Not dead", "the delivery is not dead: only dead deliveries can be replayed")
	case errors.Is(err, notify.ErrNotFound):
		return newProblem(http.StatusNotFound, ProblemNotFound, "Not found", "nothing is known by that ID")
	case errors.Is(err, errors.ErrUnsupported):
		h.log.WarnContext(q.r.Context(), "notifyhttp: not supported by the backends", slog.String("request_id", q.id), slog.Any("error", err))
		return newProblem(http.StatusNotImplemented, ProblemUnsupported, "Not supported",
			"the server's backends cannot do this (say, cancel on an SQS queue); nothing was changed")
	case errors.Is(err, notify.ErrNotQueued):
		h.log.WarnContext(q.r.Context(), "notifyhttp: nothing queued", slog.String("request_id", q.id), slog.Any("error", err))
		p := newProblem(http.StatusServiceUnavailable, ProblemNotQueued, "Not queued", "nothing was queued (the queue is full or a backend failed); retry the same request")
		p.RetryAfter = 1
		return p
	}
	h.log.ErrorContext(q.r.Context(), "notifyhttp: backend error", slog.String("request_id", q.id),
		slog.String("method", q.r.Method), slog.String("path", q.r.URL.Path), slog.Any("error", err))
	return unavailable()
}

// send serves POST /v1/notifications.
func (h *handler) send(q *request) *Problem {
	var n notify.Notification
	if p := decode(q, "", &n); p != nil {
		return p
	}
	rec, err := h.cfg.Dispatcher.Send(q.r.Context(), n)
	if err != nil {
		return h.problemFor(q, err, notificationType, "")
	}
	status := http.StatusAccepted
	if rec.Duplicate {
		status = http.StatusOK
	}
	writeJSON(q.w, status, rec)
	return nil
}

// BatchRequest is the body of POST /v1/notifications:batch.
type BatchRequest struct {
	Notifications []notify.Notification `json:"notifications"`
}

// BatchResult answers one notification of a batch: its Receipt, or the
// Problem that kept it from being accepted.
type BatchResult struct {
	Receipt *notify.Receipt `json:"receipt,omitempty"`
	Error   *Problem        `json:"error,omitempty"`
}

// BatchResponse is the answer of POST /v1/notifications:batch: Results[i]
// answers Notifications[i].
type BatchResponse struct {
	Results []BatchResult `json:"results"`
}

// sendBatch serves POST /v1/notifications:batch.
func (h *handler) sendBatch(q *request) *Problem {
	var br BatchRequest
	if p := decode(q, "", &br); p != nil {
		return p
	}
	if len(br.Notifications) == 0 {
		return validation("notifications", "empty: send at least one notification")
	}
	if len(br.Notifications) > h.cfg.MaxBatch {
		return validation("notifications", fmt.Sprintf("%d notifications; at most %d in one batch: split it", len(br.Notifications), h.cfg.MaxBatch))
	}
	recs, err := h.cfg.Dispatcher.SendBatch(q.r.Context(), br.Notifications)
	var be *notify.BatchError
	if err != nil && !errors.As(err, &be) {
		return h.problemFor(q, err, notificationType, "")
	}
	out := BatchResponse{Results: make([]BatchResult, len(recs))}
	for i := range recs {
		if be != nil && i < len(be.Errs) && be.Errs[i] != nil {
			p := h.problemFor(q, be.Errs[i], notificationType, "notifications["+strconv.Itoa(i)+"]")
			p.Instance = q.r.URL.Path
			out.Results[i].Error = p
			continue
		}
		out.Results[i].Receipt = &recs[i]
	}
	writeJSON(q.w, http.StatusOK, out)
	return nil
}

// StatusResponse answers GET /v1/notifications/{id} and GET
// /v1/events/{eventID}: every delivery's log, oldest first.
type StatusResponse struct {
	NotificationID string                  `json:"notification_id"`
	EventID        string                  `json:"event_id,omitempty"`
	Deliveries     []notify.DeliveryRecord `json:"deliveries"`
}

func (h *handler) status(q *request) *Problem {
	recs, err := h.cfg.Dispatcher.Status(q.r.Context(), q.params[0])
	if err != nil {
		return h.problemFor(q, err, nil, "")
	}
	writeJSON(q.w, http.StatusOK, StatusResponse{NotificationID: q.params[0], Deliveries: nonNil(recs)})
	return nil
}

func (h *handler) statusByEvent(q *request) *Problem {
	nid, recs, err := h.cfg.Dispatcher.StatusByEvent(q.r.Context(), q.params[0])
	if err != nil {
		return h.problemFor(q, err, nil, "")
	}
	writeJSON(q.w, http.StatusOK, StatusResponse{NotificationID: nid, EventID: q.params[0], Deliveries: nonNil(recs)})
	return nil
}

// cancelNotification serves POST /v1/notifications/{id}:cancel.
func (h *handler) cancelNotification(q *request) *Problem {
	res, err := h.cfg.Dispatcher.CancelNotification(q.r.Context(), q.params[0])
	return h.canceled(q, res, err)
}

// cancelEvent serves POST /v1/events/{eventID}:cancel.
func (h *handler) cancelEvent(q *request) *Problem {
	res, err := h.cfg.Dispatcher.Cancel(q.r.Context(), q.params[0])
	return h.canceled(q, res, err)
}

// canceled answers a cancel with its notify.CancelResult.
func (h *handler) canceled(q *request, res notify.CancelResult, err error) *Problem {
	if err != nil {
		return h.problemFor(q, err, nil, "")
	}
	writeJSON(q.w, http.StatusOK, res)
	return nil
}

func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

func (h *handler) replay(q *request) *Problem {
	if err := h.cfg.Dispatcher.Replay(q.r.Context(), q.params[0]); err != nil {
		return h.problemFor(q, err, nil, "")
	}
	q.w.WriteHeader(http.StatusNoContent)
	return nil
}

func (h *handler) getContact(q *request) *Problem {
	c, err := h.cfg.Dispatcher.Contact(q.r.Context(), q.params[0])
	if err != nil {
		return h.problemFor(q, err, nil, "")
	}
	writeJSON(q.w, http.StatusOK, c)
	return nil
}

func (h *handler) putContact(q *request) *Problem {
	var c notify.Contact
	if p := decode(q, "", &c); p != nil {
		return p
	}
	user := q.params[0]
	switch c.UserID {
	case "":
		c.UserID = user
	case user:
	default:
		return validation("user_id", "differs from the user in the path; leave it out or make them equal")
	}
	// The answer is the contact as stored: addresses in their channels'
	// normal forms (E.164, a lower-case ASCII email domain).
	c, err := h.cfg.Dispatcher.NormalizeContact(c)
	if err == nil {
		err = h.cfg.Dispatcher.PutContact(q.r.Context(), c)
	}
	if err != nil {
		return h.problemFor(q, err, contactType, "")
	}
	writeJSON(q.w, http.StatusOK, c)
	return nil
}

// DeviceRegistered is the answer to POST /v1/users/{id}/devices: the
// user's contact as stored after the registration, and the user the
// token was taken from, if another user held it.
type DeviceRegistered struct {
	notify.Contact
	// MovedFrom is the user who held the token before; empty when no other
	// user did (or the Store is not a notify.DeviceRegistry).
	MovedFrom string `json:"moved_from,omitempty"`
}

// registerDevice adds (or refreshes) one device on the user's contact.
// With a Store that is a notify.DeviceRegistry it registers that device
// alone (Dispatcher.RegisterDevice): concurrent registrations all land,
// and a token another user held moves to this one. Otherwise it is a
// read-modify-write of the contact, so two registrations for one user at
// the same instant may lose one of them (the last write wins).
func (h *handler) registerDevice(q *request) *Problem {
	var dev notify.Device
	if p := decode(q, "", &dev); p != nil {
		return p
	}
	if dev.Platform == "" {
		return validation("platform", "empty: name the push channel (apns or fcm)")
	}
	if dev.Token == "" {
		return validation("token", "empty device token")
	}
	if dev.RegisteredAt.IsZero() {
		dev.RegisteredAt = h.now().UTC().Truncate(time.Millisecond)
	}
	if dev.LastSeen.IsZero() {
		dev.LastSeen = h.now().UTC().Truncate(time.Millisecond)
	}
	ctx := q.r.Context()
	user := q.params[0]
	if h.cfg.Dispatcher.HasDeviceRegistry() {
		reg, err := h.cfg.Dispatcher.RegisterDevice(ctx, user, dev)
		if err != nil {
			var ve *notify.ValidationError
			if errors.As(err, &ve) && ve.Field != "UserID" {
				return validation(strings.ToLower(ve.Field), ve.Reason)
			}
			return h.problemFor(q, err, contactType, "")
		}
		c, err := h.cfg.Dispatcher.Contact(ctx, user)
		if err != nil {
			return h.problemFor(q, err, nil, "")
		}
		writeJSON(q.w, http.StatusOK, DeviceRegistered{Contact: c, MovedFrom: reg.MovedFrom})
		return nil
	}
	c, err := h.cfg.Dispatcher.Contact(ctx, user)
	switch {
	case errors.Is(err, notify.ErrNotFound):
		c = notify.Contact{UserID: user}
	case err != nil:
		return h.problemFor(q, err, nil, "")
	}
	devs := c.Devices[:0:0]
	for _, d := range c.Devices {
		if d.Platform != dev.Platform || d.Token != dev.Token {
			devs = append(devs, d)
		}
	}
	c.Devices = append(devs, dev)
	c, err = h.cfg.Dispatcher.NormalizeContact(c)
	if err == nil {
		err = h.cfg.Dispatcher.PutContact(ctx, c)
	}
	if err != nil {
		var ve *notify.ValidationError
		if errors.As(err, &ve) && strings.HasPrefix(ve.Field, "Devices[") {
			// Name the new device's field, not its place in the list.
			_, rest, _ := strings.Cut(ve.Field, "].")
			return validation(strings.ToLower(rest), ve.Reason)
		}
		return h.problemFor(q, err, contactType, "")
	}
	writeJSON(q.w, http.StatusOK, DeviceRegistered{Contact: c})
	return nil
}

func (h *handler) unregisterDevice(q *request) *Problem {
	qv, err := url.ParseQuery(q.r.URL.RawQuery)
	if err != nil {
		return malformed("the query does not parse")
	}
	platform, token := qv.Get("platform"), qv.Get("token")
	if platform == "" {
		return validation("platform", "the platform query parameter is required (apns or fcm)")
	}
	if token == "" {
		return validation("token", "the token query parameter is required")
	}
	remove := h.cfg.Dispatcher.RemoveDevice
	if h.cfg.Dispatcher.HasDeviceRegistry() {
		remove = h.cfg.Dispatcher.UnregisterDevice
	}
	if err := remove(q.r.Context(), q.params[0], platform, token); err != nil {
		return h.problemFor(q, err, nil, "")
	}
	q.w.WriteHeader(http.StatusNoContent)
	return nil
}

// Preference is one user's choice for a category on a channel.
type Preference struct {
	UserID   string `json:"user_id"`
	Category string `json:"category"`
	Channel  string `json:"channel"`
	Allowed  bool   `json:"allowed"`
}

// Preferences is every setting of one user, as GET
// /v1/users/{id}/preferences answers: by category, then channel.
type Preferences struct {
	UserID      string              `json:"user_id"`
	Preferences []notify.Preference `json:"preferences"`
}

func (h *handler) listPreferences(q *request) *Problem {
	user := q.params[0]
	ps, err := h.cfg.Dispatcher.Preferences(q.r.Context(), user)
	if err != nil {
		return h.problemFor(q, err, nil, "")
	}
	if ps == nil {
		ps = []notify.Preference{}
	}
	writeJSON(q.w, http.StatusOK, Preferences{UserID: user, Preferences: ps})
	return nil
}

func (h *handler) getPreference(q *request) *Problem {
	user, cat, ch := q.params[0], q.params[1], q.params[2]
	ok, err := h.cfg.Dispatcher.Allowed(q.r.Context(), user, cat, ch)
	if err != nil {
		return h.problemFor(q, err, nil, "")
	}
	writeJSON(q.w, http.StatusOK, Preference{UserID: user, Category: cat, Channel: ch, Allowed: ok})
	return nil
}

func (h *handler) putPreference(q *request) *Problem {
	var body struct {
		Allowed *bool `json:"allowed"`
	}
	if p := decode(q, "", &body); p != nil {
		return p
	}
	if body.Allowed == nil {
		return validation("allowed", "required: true to allow, false to opt out")
	}
	user, cat, ch := q.params[0], q.params[1], q.params[2]
	if err := h.cfg.Dispatcher.SetPreference(q.r.Context(), user, cat, ch, *body.Allowed); err != nil {
		return h.problemFor(q, err, nil, "")
	}
	writeJSON(q.w, http.StatusOK, Preference{UserID: user, Category: cat, Channel: ch, Allowed: *body.Allowed})
	return nil
}
