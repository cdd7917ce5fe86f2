package redis

import (
	"context"
	"testing"
	"time"
)

// BenchmarkAwait is await's own cost per call, on a call that does nothing:
// the goroutine, its hand-over and allocations that a call whose ctx can
// end pays on top of its round trip.
func BenchmarkAwait(b *testing.B) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Hour)
	defer cancel()
	f := func() (int, error) { return 1, nil }
	b.Run("direct", func(b *testing.B) {
		for b.Loop() {
			_, _ = f()
		}
	})
	b.Run("await", func(b *testing.B) {
		for b.Loop() {
			_, _ = await(ctx, f, nil, nil)
		}
	})
}
