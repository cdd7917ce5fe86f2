// Package webhook holds what the channels' provider callback handlers
// (sms.StatusHandler, email.EventHandler) do alike before reading a
// callback: check the method and read a bounded body.
package webhook

import (
	"io"
	"net/http"
)

// ReadPost reads the body of a provider's callback, which must be a POST
// of at most limit bytes. When ok is false it has answered w and the
// handler returns:
//
//   - another method: 405 with "Allow: POST" and "<what> are POSTed"
//     (what names the callbacks, "status callbacks");
//   - a body that cannot be read, or longer than limit: 400 "unreadable or
//     oversized body".
func ReadPost(w http.ResponseWriter, r *http.Request, limit int64, what string) (body []byte, ok bool) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		http.Error(w, what+" are POSTed", http.StatusMethodNotAllowed)
		return nil, false
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, limit+1))
	if err != nil || int64(len(body)) > limit {
		http.Error(w, "unreadable or oversized body", http.StatusBadRequest)
		return nil, false
	}
	return body, true
}
