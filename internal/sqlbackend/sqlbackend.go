// Package sqlbackend holds what the SQL backends (postgres, sqlite) share
// that does not depend on the database: reading their embedded migration
// files and checking and encoding the rows they write. Its errors carry no
// package prefix; callers add theirs ("postgres: ").
package sqlbackend

import (
	"encoding/json"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strconv"
	"strings"

	"github.com/gonotify/notify"
)

// Migration is one numbered SQL file.
type Migration struct {
	Version int
	Name    string
	SQL     string
}

// LoadMigrations reads the files of dir in fsys, each named NNNN_name.sql,
// in version order; two files of one version are an error.
func LoadMigrations(fsys fs.FS, dir string) ([]Migration, error) {
	entries, err := fs.ReadDir(fsys, dir)
	if err != nil {
		return nil, fmt.Errorf("read embedded migrations: %w", err)
	}
	var ms []Migration
	for _, e := range entries {
		num, _, ok := strings.Cut(e.Name(), "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil || v <= 0 {
			return nil, fmt.Errorf("migration file %s is not named NNNN_name.sql", e.Name())
		}
		b, err := fs.ReadFile(fsys, path.Join(dir, e.Name()))
		if err != nil {
			return nil, fmt.Errorf("read migration %s: %w", e.Name(), err)
		}
		ms = append(ms, Migration{Version: v, Name: e.Name(), SQL: string(b)})
	}
	sort.Slice(ms, func(i, j int) bool { return ms[i].Version < ms[j].Version })
	for i := 1; i < len(ms); i++ {
		if ms[i].Version == ms[i-1].Version {
			return nil, fmt.Errorf("migrations %s and %s share a version", ms[i-1].Name, ms[i].Name)
		}
	}
	return ms, nil
}

// CheckEvents refuses events that cannot be logged: one without a
// delivery ID.
func CheckEvents(events []notify.Event) error {
	for i, e := range events {
		if e.DeliveryID == "" {
			return fmt.Errorf("record event %d: DeliveryID is empty", i)
		}
	}
	return nil
}

// DeliveryIDs checks events as CheckEvents does and returns their
// DeliveryIDs, in order: the jobs a CancelLogged removes.
func DeliveryIDs(events []notify.Event) ([]string, error) {
	if err := CheckEvents(events); err != nil {
		return nil, err
	}
	ids := make([]string, len(events))
	for i, e := range events {
		ids[i] = e.DeliveryID
	}
	return ids, nil
}

// EventsOf returns the events whose DeliveryID is among ids, in order: of
// the events a CancelLogged was given, those of the jobs it removed.
func EventsOf(events []notify.Event, ids []string) []notify.Event {
	removed := make(map[string]bool, len(ids))
	for _, id := range ids {
		removed[id] = true
	}
	var out []notify.Event
	for _, e := range events {
		if removed[e.DeliveryID] {
			out = append(out, e)
		}
	}
	return out
}

// JobBodies checks that every job names its queue and ID and returns each
// one's delivery encoded as JSON, the body a queue row stores.
func JobBodies(jobs []notify.Job) ([]string, error) {
	bodies := make([]string, len(jobs))
	for i, j := range jobs {
		if j.Queue == "" || j.ID == "" {
			return nil, fmt.Errorf("enqueue job %d: queue and ID must be set (queue %q, ID %q)", i, j.Queue, j.ID)
		}
		b, err := json.Marshal(j.Delivery)
		if err != nil {
			return nil, fmt.Errorf("enqueue job %s: encode delivery: %w", j.ID, err)
		}
		bodies[i] = string(b)
	}
	return bodies, nil
}

// QuietColumns returns q as the two columns a contacts row keeps it in,
// minutes since midnight: both NULL (nil) when q is unset.
func QuietColumns(q *notify.QuietHours) (start, end *int16) {
	if q == nil {
		return nil, nil
	}
	s, e := int16(q.Start), int16(q.End)
	return &s, &e
}

// QuietHours reads back what QuietColumns wrote: nil when either column
// is NULL.
func QuietHours(start, end *int16) *notify.QuietHours {
	if start == nil || end == nil {
		return nil
	}
	return &notify.QuietHours{Start: notify.Clock(*start), End: notify.Clock(*end)}
}
