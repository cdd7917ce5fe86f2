package sqlite_test

import (
	"path/filepath"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/gonotify/notify/sqlite"
)

// open opens a Backend on a fresh file of t's, migrated, closed with t.
func open(t testing.TB, cfg sqlite.Config) *sqlite.Backend {
	t.Helper()
	return openPath(t, filepath.Join(t.TempDir(), "notify.db"), cfg)
}

// openPath opens a Backend on path, migrated, closed with t.
func openPath(t testing.TB, path string, cfg sqlite.Config) *sqlite.Backend {
	t.Helper()
	b, err := sqlite.Open(path, cfg)
	require.NoError(t, err)
	t.Cleanup(func() { b.Close() })
	require.NoError(t, b.Migrate(t.Context()))
	return b
}

// perTest remembers one Backend per test, so the suites' separate
// constructors (a Queue, then its EventLog) get the same file.
type perTest struct {
	mu sync.Mutex
	m  map[testing.TB]*sqlite.Backend
}

func (p *perTest) get(t testing.TB, cfg sqlite.Config) *sqlite.Backend {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.m == nil {
		p.m = map[testing.TB]*sqlite.Backend{}
	}
	if b := p.m[t]; b != nil {
		return b
	}
	b := open(t, cfg)
	p.m[t] = b
	t.Cleanup(func() {
		p.mu.Lock()
		delete(p.m, t)
		p.mu.Unlock()
	})
	return b
}
