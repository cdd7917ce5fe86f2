// Package retryafter reads HTTP Retry-After headers for the channels.
package retryafter

import (
	"net/http"
	"strconv"
	"strings"
	"time"
)

// max bounds what a server can ask for: a day.
const max = 24 * time.Hour

// Parse reads a Retry-After value, delay-seconds or an HTTP date, relative
// to now. Anything else, a time in the past or a negative delay is zero;
// more than a day is a day.
func Parse(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if s, err := strconv.ParseInt(v, 10, 64); err == nil {
		if s <= 0 {
			return 0
		}
		return time.Duration(min(s, int64(max/time.Second))) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return min(t.Sub(now), max)
	}
	return 0
}
