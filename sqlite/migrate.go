package sqlite

import (
	"context"
	"embed"
	"fmt"
	"time"

	"github.com/gonotify/notify/internal/sqlbackend"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

func loadMigrations() ([]sqlbackend.Migration, error) {
	ms, err := sqlbackend.LoadMigrations(migrationFiles, "migrations")
	if err != nil {
		return nil, fmt.Errorf("sqlite: %w", err)
	}
	return ms, nil
}

// Migrate creates or upgrades the Backend's tables: it applies, in order
// and in one transaction, every migration embedded in the package that the
// file's schema_migrations table does not record yet. It is idempotent;
// call it after Open, before the first use of the file. A file whose
// schema is newer than this package knows is refused.
func (b *Backend) Migrate(ctx context.Context) error {
	ms, err := loadMigrations()
	if err != nil {
		return err
	}
	err = b.w.do(ctx, func(ctx context.Context, w *wtx) error {
		if _, err := w.tx.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
			version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL)`); err != nil {
			return fmt.Errorf("create schema_migrations: %w", err)
		}
		var current int
		if err := w.tx.QueryRowContext(ctx, "SELECT coalesce(max(version), 0) FROM schema_migrations").Scan(&current); err != nil {
			return fmt.Errorf("read the applied version: %w", err)
		}
		if last := ms[len(ms)-1].Version; current > last {
			return fmt.Errorf("the file's schema is at version %d, newer than this package's %d: upgrade the package", current, last)
		}
		for _, m := range ms {
			if m.Version <= current {
				continue
			}
			if _, err := w.tx.ExecContext(ctx, m.SQL); err != nil {
				return fmt.Errorf("apply %s: %w", m.Name, err)
			}
			if _, err := w.tx.ExecContext(ctx, "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)",
				m.Version, m.Name, time.Now().UnixNano()); err != nil {
				return fmt.Errorf("record %s: %w", m.Name, err)
			}
		}
		return nil
	}, true)
	if err != nil {
		return fmt.Errorf("sqlite: migrate %s: %w", b.path, err)
	}
	return nil
}
