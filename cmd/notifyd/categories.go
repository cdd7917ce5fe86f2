package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/gonotify/notify"
)

// maxCategoriesFile bounds the --categories file.
const maxCategoriesFile = 1 << 20

// categoryFile is one category of the --categories file:
//
//	{"marketing": {"opt_in": true, "quiet_hours": "21:00-08:00",
//	               "limit": {"rate": 3, "per": "24h"}, "over_limit": "drop"}}
type categoryFile struct {
	OptIn      bool               `json:"opt_in"`
	QuietHours *notify.QuietHours `json:"quiet_hours"`
	Limit      *limitFile         `json:"limit"`
	OverLimit  string             `json:"over_limit"` // "defer" (default) or "drop"
}

// limitFile is a notify.Limit with its period as a Go duration ("24h").
type limitFile struct {
	Rate  int    `json:"rate"`
	Per   string `json:"per"`
	Burst int    `json:"burst"`
}

// loadCategories reads the category policies of the --categories file;
// nil without one.
func loadCategories(cfg *Config) (map[string]notify.CategoryPolicy, error) {
	if cfg.Categories == "" {
		return nil, nil
	}
	f, err := os.Open(cfg.Categories)
	if err != nil {
		return nil, fmt.Errorf("--categories: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxCategoriesFile+1))
	if err != nil {
		return nil, fmt.Errorf("--categories: %w", err)
	}
	if len(data) > maxCategoriesFile {
		return nil, fmt.Errorf("--categories %s: over %d bytes", cfg.Categories, maxCategoriesFile)
	}
	var file map[string]categoryFile
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&file); err != nil {
		return nil, fmt.Errorf("--categories %s: want {\"category\": {\"opt_in\": bool, \"quiet_hours\": \"22:00-07:00\", \"limit\": {\"rate\": 3, \"per\": \"24h\", \"burst\": 0}, \"over_limit\": \"defer\" or \"drop\"}}: %w", cfg.Categories, err)
	}
	out := make(map[string]notify.CategoryPolicy, len(file))
	for name, c := range file {
		bad := func(format string, args ...any) error {
			return fmt.Errorf("--categories %s: category %q: %s", cfg.Categories, name, fmt.Sprintf(format, args...))
		}
		if name == "" || strings.TrimSpace(name) != name {
			return nil, bad("a category is named by a non-empty word")
		}
		var pol notify.CategoryPolicy
		pol.OptIn = c.OptIn
		if c.QuietHours != nil {
			pol.QuietHours = *c.QuietHours
		}
		if c.Limit != nil {
			per, err := time.ParseDuration(c.Limit.Per)
			if err != nil || per <= 0 || c.Limit.Rate <= 0 || c.Limit.Burst < 0 {
				return nil, bad("limit: want a positive rate per a positive duration (\"per\": \"24h\"), got rate %d per %q", c.Limit.Rate, c.Limit.Per)
			}
			pol.Limit = notify.Limit{Rate: c.Limit.Rate, Per: per, Burst: c.Limit.Burst}
		}
		switch c.OverLimit {
		case "", "defer":
			pol.OverLimit = notify.OverLimitDefer
		case "drop":
			pol.OverLimit = notify.OverLimitDrop
		default:
			return nil, bad("over_limit %q: want \"defer\" or \"drop\"", c.OverLimit)
		}
		out[name] = pol
	}
	return out, nil
}
