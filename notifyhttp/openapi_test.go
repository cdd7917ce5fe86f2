package notifyhttp

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"
	"github.com/stretchr/testify/require"
)

var (
	specOnce   sync.Once
	specRouter routers.Router
	specErr    error
)

// loadSpec loads and validates openapi.yaml, the document the handler
// serves.
func loadSpec(t testing.TB) routers.Router {
	t.Helper()
	specOnce.Do(func() {
		loader := openapi3.NewLoader()
		doc, err := loader.LoadFromData(openAPIDoc)
		if err != nil {
			specErr = err
			return
		}
		if err := doc.Validate(context.Background()); err != nil {
			specErr = err
			return
		}
		specRouter, specErr = gorillamux.NewRouter(doc)
	})
	require.NoError(t, specErr, "openapi.yaml does not load")
	return specRouter
}

func TestOpenAPIDocument(t *testing.T) {
	r := loadSpec(t)
	// Every route of the handler is in the document.
	for _, rt := range routes {
		path := "/"
		for i, p := range rt.pattern {
			if i > 0 {
				path += "/"
			}
			if verb, ok := stringsCutPrefix(p, "{}"); ok {
				p = "x" + verb
			}
			path += p
		}
		req := httptest.NewRequest(rt.method, "http://localhost"+path, nil)
		_, _, err := r.FindRoute(req)
		require.NoError(t, err, "%s %s is not in openapi.yaml", rt.method, path)
	}
}

func stringsCutPrefix(s, p string) (string, bool) {
	if len(s) >= len(p) && s[:len(p)] == p {
		return s[len(p):], true
	}
	return "", false
}

// specCheck wraps the handler under test: every answer must match the
// document, and so must every request the handler accepted (2xx); the
// requests of the bad-input tests are refused by the handler and by the
// document alike.
func specCheck(t testing.TB, next http.Handler) http.Handler {
	router := loadSpec(t)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		r.Body = io.NopCloser(bytes.NewReader(body))
		rec := httptest.NewRecorder()
		next.ServeHTTP(rec, r)
		for k, v := range rec.Header() {
			w.Header()[k] = v
		}
		w.WriteHeader(rec.Code)
		_, _ = w.Write(rec.Body.Bytes())

		if _, ok := h(next).cfg.Webhooks[r.URL.Path]; ok {
			return
		}
		vr := r.Clone(context.Background())
		vr.Body = io.NopCloser(bytes.NewReader(body))
		// Route on the path as sent: an ID may hold an escaped "/".
		vr.URL.Path, vr.URL.RawPath = r.URL.EscapedPath(), ""
		route, params, err := router.FindRoute(vr)
		if err != nil {
			if rec.Code != http.StatusNotFound && rec.Code != http.StatusMethodNotAllowed {
				t.Errorf("%s %s answered %d but is not in openapi.yaml: %v", r.Method, r.URL.Path, rec.Code, err)
			}
			return
		}
		in := &openapi3filter.RequestValidationInput{
			Request: vr, PathParams: params, Route: route,
			Options: &openapi3filter.Options{AuthenticationFunc: openapi3filter.NoopAuthenticationFunc},
		}
		if rec.Code < 300 {
			if err := openapi3filter.ValidateRequest(context.Background(), in); err != nil {
				t.Errorf("%s %s: the handler accepted a request openapi.yaml refuses: %v", r.Method, r.URL.Path, err)
			}
		}
		out := &openapi3filter.ResponseValidationInput{
			RequestValidationInput: in, Status: rec.Code, Header: rec.Header(),
			Body:    io.NopCloser(bytes.NewReader(rec.Body.Bytes())),
			Options: &openapi3filter.Options{IncludeResponseStatus: true},
		}
		if err := openapi3filter.ValidateResponse(context.Background(), out); err != nil {
			t.Errorf("%s %s: answer %d does not match openapi.yaml: %v", r.Method, r.URL.Path, rec.Code, err)
		}
	})
}

func h(x http.Handler) *handler { return x.(*handler) }
