package retryafter

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

func TestParse(t *testing.T) {
	now := time.Date(2026, 11, 27, 6, 0, 0, 0, time.UTC)
	for v, want := range map[string]time.Duration{
		"30":                            30 * time.Second,
		" 30 ":                          30 * time.Second,
		"Fri, 27 Nov 2026 06:01:30 GMT": 90 * time.Second,
		"Fri, 27 Nov 2026 05:59:00 GMT": 0, // in the past
		"-5":                            0,
		"soon":                          0,
		"":                              0,
		"999999999999":                  24 * time.Hour,
		"Sat, 27 Nov 2027 06:00:00 GMT": 24 * time.Hour,
	} {
		assert.Equal(t, want, Parse(v, now), "Retry-After %q", v)
	}
}

func FuzzParse(f *testing.F) {
	f.Add("120")
	f.Add("Fri, 27 Nov 2026 06:01:30 GMT")
	f.Fuzz(func(t *testing.T, v string) {
		d := Parse(v, time.Now())
		if d < 0 || d > max {
			t.Fatalf("Parse(%q) = %v, outside [0, 24h]", v, d)
		}
	})
}
