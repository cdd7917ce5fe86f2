package notifyhttp

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"reflect"
	"strconv"
	"strings"

	"github.com/gonotify/notify"
)

// Problem is an RFC 9457 problem detail, the body of every error answer
// (Content-Type application/problem+json). Client methods return it (as
// an error) for answers that map to no error of the notify package.
type Problem struct {
	// Type is a URI naming the kind of problem, one of the Problem*
	// constants.
	Type   string `json:"type"`
	Title  string `json:"title"`
	Status int    `json:"status"`
	Detail string `json:"detail,omitempty"`
	// Instance is the request's path.
	Instance string `json:"instance,omitempty"`
	// Field names the offending field of a validation problem, as a JSON
	// path ("to[1].value", "notifications[3].user_id").
	Field string `json:"field,omitempty"`
	// RequestID is the request's ID (also in the X-Request-Id header), for
	// the server's log.
	RequestID string `json:"request_id,omitempty"`
	// RetryAfter is the answer's Retry-After header, in seconds (0: none).
	RetryAfter int `json:"-"`
}

// Error says the status, title and detail.
func (p *Problem) Error() string {
	s := "notifyhttp: " + strconv.Itoa(p.Status) + " " + p.Title
	if p.Field != "" {
		s += " (field " + p.Field + ")"
	}
	if p.Detail != "" {
		s += ": " + p.Detail
	}
	return s
}

// Is maps a problem to the notify package's sentinel errors and this
// package's: ErrNotFound, ErrInProgress, ErrNotDead, ErrNotQueued,
// ErrUnauthorized, ErrForbidden, ErrRateLimited, ErrUnavailable.
func (p *Problem) Is(target error) bool {
	switch target {
	case notify.ErrNotFound:
		return p.Type == ProblemNotFound
	case notify.ErrInProgress:
		return p.Type == ProblemInProgress
	case notify.ErrNotDead:
		return p.Type == ProblemNotDead
	case notify.ErrNotQueued:
		return p.Type == ProblemNotQueued
	case ErrUnauthorized:
		return p.Status == http.StatusUnauthorized
	case ErrForbidden:
		return p.Status == http.StatusForbidden
	case ErrRateLimited:
		return p.Status == http.StatusTooManyRequests
	case ErrUnavailable:
		return p.Status == http.StatusServiceUnavailable
	}
	return false
}

// Errors a Client's answer can match (errors.Is), besides the notify
// package's.
var (
	ErrUnauthorized = errors.New("notifyhttp: not authenticated (check the key ID, the secret and the clock)")
	ErrForbidden    = errors.New("notifyhttp: the key may not do this (scope) or is revoked")
	ErrRateLimited  = errors.New("notifyhttp: over the key's rate limit")
	ErrUnavailable  = errors.New("notifyhttp: the service is unavailable; retry the same request")
)

// Problem types (the Type of a Problem).
const (
	ProblemMalformed    = "urn:notify:problem:malformed-request"
	ProblemTooLarge     = "urn:notify:problem:too-large"
	ProblemValidation   = "urn:notify:problem:validation"
	ProblemUnauthorized = "urn:notify:problem:unauthorized"
	ProblemForbidden    = "urn:notify:problem:forbidden"
	ProblemNotFound     = "urn:notify:problem:not-found"
	ProblemNoRoute      = "urn:notify:problem:no-route"
	ProblemMethod       = "urn:notify:problem:method-not-allowed"
	ProblemInProgress   = "urn:notify:problem:in-progress"
	ProblemNotDead      = "urn:notify:problem:not-dead"
	ProblemRateLimited  = "urn:notify:problem:rate-limited"
	ProblemNotQueued    = "urn:notify:problem:not-queued"
	ProblemUnavailable  = "urn:notify:problem:unavailable"
	ProblemInternal     = "urn:notify:problem:internal"
	ProblemUnsupported  = "urn:notify:problem:unsupported"
)

func newProblem(status int, typ, title, detail string) *Problem {
	return &Problem{Type: typ, Title: title, Status: status, Detail: detail}
}

func malformed(detail string) *Problem {
	return newProblem(http.StatusBadRequest, ProblemMalformed, "Malformed request", detail)
}

func validation(field, detail string) *Problem {
	p := newProblem(http.StatusUnprocessableEntity, ProblemValidation, "Invalid request", detail)
	p.Field = field
	return p
}

func unauthorized(detail string) *Problem {
	return newProblem(http.StatusUnauthorized, ProblemUnauthorized, "Not authenticated", detail)
}

func forbidden(detail string) *Problem {
	return newProblem(http.StatusForbidden, ProblemForbidden, "Forbidden", detail)
}

func unavailable() *Problem {
	p := newProblem(http.StatusServiceUnavailable, ProblemUnavailable, "Service unavailable",
		"a backend did not answer; retry the same request (same event_id): it is idempotent")
	p.RetryAfter = 1
	return p
}

// writeProblem writes p as the answer.
func writeProblem(w http.ResponseWriter, p *Problem) {
	h := w.Header()
	h.Set("Content-Type", "application/problem+json")
	h.Set("Cache-Control", "no-store")
	if p.RetryAfter > 0 {
		h.Set("Retry-After", strconv.Itoa(p.RetryAfter))
	}
	w.WriteHeader(p.Status)
	_ = json.NewEncoder(w).Encode(p)
}

// decodeProblem turns a JSON decoding error into a 400 problem, naming the
// field when the decoder does.
func decodeProblem(prefix string, err error) *Problem {
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &se):
		return malformed(fmt.Sprintf("malformed JSON at byte %d: %s", se.Offset, se.Error()))
	case errors.As(err, &te):
		p := malformed(fmt.Sprintf("%s: expected %s, got JSON %s", joinField(prefix, te.Field), te.Type, te.Value))
		p.Field = joinField(prefix, te.Field)
		return p
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		name, _ := strconv.Unquote(strings.TrimPrefix(err.Error(), "json: unknown field "))
		p := malformed(fmt.Sprintf("unknown field %q", name))
		p.Field = joinField(prefix, name)
		return p
	case errors.Is(err, errTrailing):
		return malformed("data after the JSON value: send exactly one JSON value")
	case errors.Is(err, errEmptyBody):
		return malformed("empty body: send a JSON value")
	}
	// Errors of a field's own UnmarshalJSON (a time that does not parse).
	return malformed("malformed JSON: " + err.Error())
}

func joinField(prefix, f string) string {
	switch {
	case prefix == "":
		return f
	case f == "":
		return prefix
	}
	return prefix + "." + f
}

// jsonPath turns the Go field path of a *notify.ValidationError
// ("To[1].Value", "Devices[0].Token") into the JSON path the API speaks
// ("to[1].value"), following t's json tags; segments it cannot resolve
// stay as they are.
func jsonPath(t reflect.Type, goPath string) string {
	if goPath == "" {
		return ""
	}
	segs := strings.Split(goPath, ".")
	for i, seg := range segs {
		name, idx, _ := strings.Cut(seg, "[")
		for t != nil && (t.Kind() == reflect.Pointer || t.Kind() == reflect.Slice) {
			t = t.Elem()
		}
		if t == nil || t.Kind() != reflect.Struct {
			if t != nil && t.Kind() == reflect.Map {
				t = t.Elem() // Options.apns: the key is kept as it is
			}
			continue
		}
		f, ok := t.FieldByName(name)
		if !ok {
			t = nil
			continue
		}
		if tag, _, _ := strings.Cut(f.Tag.Get("json"), ","); tag != "" && tag != "-" {
			name = tag
		}
		if idx != "" {
			name += "[" + idx
		}
		segs[i] = name
		t = f.Type
	}
	return strings.Join(segs, ".")
}
