package sqlite

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gonotify/notify"
)

// TestWriterBatchFailure: writes queued behind a running one share the
// next transaction; a write that fails there undoes only its own
// statements, whether it is bare (the batch runs again in savepoints) or
// isolated, and the others commit.
func TestWriterBatchFailure(t *testing.T) {
	for _, isolate := range []bool{false, true} {
		t.Run(fmt.Sprintf("isolate=%v", isolate), func(t *testing.T) {
			b, err := Open(filepath.Join(t.TempDir(), "w.db"), Config{})
			require.NoError(t, err)
			defer b.Close()
			ctx := t.Context()
			require.NoError(t, b.Migrate(ctx))
			hold, release := make(chan struct{}), make(chan struct{})
			go func() {
				_ = b.w.do(ctx, func(context.Context, *wtx) error { close(hold); <-release; return nil }, false)
			}()
			<-hold
			c0 := b.w.commits.Load()
			boom := errors.New("boom")
			const n = 20
			errs := make([]error, n)
			var wg sync.WaitGroup
			for i := range n {
				wg.Go(func() {
					errs[i] = b.writeIsolated(ctx, nil, func(ctx context.Context, w *wtx) error {
						if _, err := w.exec(ctx, sqlSetPreference, fmt.Sprint("u", i), "c", "sms", false, time.Now().UnixNano()); err != nil {
							return err
						}
						if i%5 == 3 {
							return boom
						}
						return nil
					}, isolate && i%2 == 0)
				})
			}
			time.Sleep(200 * time.Millisecond) // all queued behind the held write
			close(release)
			wg.Wait()
			for i := range n {
				consent, err := b.store.Consent(ctx, fmt.Sprint("u", i), "c", "sms")
				allowed := consent != notify.ConsentOptedOut
				require.NoError(t, err)
				if i%5 == 3 {
					assert.ErrorIs(t, errs[i], boom, "write %d", i)
					assert.True(t, allowed, "the failed write %d was undone", i)
				} else {
					assert.NoError(t, errs[i], "write %d", i)
					assert.False(t, allowed, "write %d committed", i)
				}
			}
			assert.LessOrEqual(t, b.w.commits.Load()-c0, uint64(3), "the writes shared transactions")
		})
	}
}
