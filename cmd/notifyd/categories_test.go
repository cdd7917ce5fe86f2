package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gonotify/notify"
)

func writeCategories(t *testing.T, body string) *Config {
	t.Helper()
	path := filepath.Join(t.TempDir(), "categories.json")
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := defaults()
	cfg.Categories = path
	return &cfg
}

// TestLoadCategories: the --categories file becomes the Dispatcher's
// category policies.
func TestLoadCategories(t *testing.T) {
	cfg := writeCategories(t, `{
		"marketing": {"opt_in": true, "quiet_hours": "21:00-08:00", "limit": {"rate": 3, "per": "24h"}, "over_limit": "drop"},
		"chat": {"limit": {"rate": 10, "per": "1m", "burst": 20}},
		"security": {"quiet_hours": "none"}
	}`)
	got, err := loadCategories(cfg)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]notify.CategoryPolicy{
		"marketing": {OptIn: true, QuietHours: notify.QuietHours{Start: notify.ClockAt(21, 0), End: notify.ClockAt(8, 0)},
			Limit: notify.Limit{Rate: 3, Per: 24 * time.Hour}, OverLimit: notify.OverLimitDrop},
		"chat":     {Limit: notify.Limit{Rate: 10, Per: time.Minute, Burst: 20}},
		"security": {},
	}
	if len(got) != len(want) {
		t.Fatalf("got %d categories, want %d: %+v", len(got), len(want), got)
	}
	for name, w := range want {
		if got[name] != w {
			t.Errorf("category %q: got %+v, want %+v", name, got[name], w)
		}
	}
	none, err := loadCategories(&Config{})
	if err != nil || none != nil {
		t.Errorf("no file: %v, %v; want nil, nil", none, err)
	}
}

// TestLoadCategoriesErrors: a malformed file is refused with a message
// naming the setting and, where it can, the category.
func TestLoadCategoriesErrors(t *testing.T) {
	for _, tc := range []struct{ body, want string }{
		{`{"marketing": {"opt_in": "yes"}}`, "--categories"},
		{`{"marketing": {"optin": true}}`, "unknown field"},
		{`{"marketing": {"quiet_hours": "25:00-07:00"}}`, "--categories"},
		{`{"marketing": {"limit": {"rate": 3, "per": "a day"}}}`, `category "marketing": limit`},
		{`{"marketing": {"limit": {"rate": 0, "per": "24h"}}}`, `category "marketing": limit`},
		{`{"marketing": {"over_limit": "queue"}}`, `over_limit "queue"`},
		{`{"": {}}`, "non-empty"},
		{`[1, 2]`, "--categories"},
	} {
		_, err := loadCategories(writeCategories(t, tc.body))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want an error containing %q", tc.body, err, tc.want)
		}
	}
	cfg := defaults()
	cfg.Categories = filepath.Join(t.TempDir(), "missing.json")
	if _, err := loadCategories(&cfg); err == nil || !strings.Contains(err.Error(), "--categories") {
		t.Errorf("missing file: %v", err)
	}
	big := writeCategories(t, `{"x": {}}`+strings.Repeat(" ", maxCategoriesFile))
	if _, err := loadCategories(big); err == nil || !strings.Contains(err.Error(), "bytes") {
		t.Errorf("oversized file: %v", err)
	}
}
