package await

import (
	"context"
	"errors"
	"testing"
	"time"
)

// BenchmarkAwait is Do's own cost per call, on a call that does nothing:
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
			_, _ = Do(ctx, f, nil, nil)
		}
	})
}

func TestDoReturnsWithCtxAndHandsTheResultOn(t *testing.T) {
	release := make(chan struct{})
	late := make(chan int, 1)
	abandoned := false
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	v, err := Do(ctx, func() (int, error) { <-release; return 7, nil },
		func() { abandoned = true }, func(v int, _ error) { late <- v })
	if !errors.Is(err, context.DeadlineExceeded) || v != 0 {
		t.Fatalf("Do = %d, %v; want 0 and the ctx's error", v, err)
	}
	if !abandoned {
		t.Fatal("abandoned did not run before Do returned")
	}
	close(release)
	if got := <-late; got != 7 {
		t.Fatalf("late got %d, want 7", got)
	}

	v, err = Do(context.Background(), func() (int, error) { return 3, nil }, nil, nil)
	if v != 3 || err != nil {
		t.Fatalf("Do without a deadline = %d, %v", v, err)
	}
	v, err = Do(ctx, func() (int, error) { t.Fatal("ran on a done ctx"); return 0, nil }, nil, nil)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Do on a done ctx = %d, %v", v, err)
	}
}
