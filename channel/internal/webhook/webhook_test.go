package webhook

import (
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

type failingReader struct{}

func (failingReader) Read([]byte) (int, error) { return 0, errors.New("connection reset") }

func TestReadPost(t *testing.T) {
	for _, tc := range []struct {
		name   string
		method string
		body   io.Reader
		code   int // 0: accepted
		text   string
	}{
		{"post", http.MethodPost, strings.NewReader("a=1"), 0, ""},
		{"empty", http.MethodPost, strings.NewReader(""), 0, ""},
		{"at the limit", http.MethodPost, strings.NewReader(strings.Repeat("x", 16)), 0, ""},
		{"over the limit", http.MethodPost, strings.NewReader(strings.Repeat("x", 17)), http.StatusBadRequest, "unreadable or oversized body"},
		{"unreadable", http.MethodPost, failingReader{}, http.StatusBadRequest, "unreadable or oversized body"},
		{"get", http.MethodGet, nil, http.StatusMethodNotAllowed, "pings are POSTed"},
		{"put", http.MethodPut, strings.NewReader("a=1"), http.StatusMethodNotAllowed, "pings are POSTed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest(tc.method, "/hook", tc.body)
			w := httptest.NewRecorder()
			body, ok := ReadPost(w, r, 16, "pings")
			if tc.code == 0 {
				if !ok {
					t.Fatalf("refused: %d %q", w.Code, w.Body.String())
				}
				if w.Body.Len() != 0 || len(w.Header()) != 0 {
					t.Fatalf("answered an accepted request: %d %q", w.Code, w.Body.String())
				}
				if tc.name == "post" && string(body) != "a=1" {
					t.Fatalf("body %q", body)
				}
				return
			}
			if ok || body != nil {
				t.Fatalf("accepted (%q)", body)
			}
			if w.Code != tc.code || strings.TrimSpace(w.Body.String()) != tc.text {
				t.Fatalf("answer %d %q, want %d %q", w.Code, w.Body.String(), tc.code, tc.text)
			}
			if allow := w.Header().Get("Allow"); (tc.code == http.StatusMethodNotAllowed) != (allow == http.MethodPost) {
				t.Fatalf("Allow: %q", allow)
			}
		})
	}
}
