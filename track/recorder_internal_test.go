package track

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/gonotify/notify"
	"github.com/gonotify/notify/notifytest"
)

// Records of one key made at the same instant get distinct times, so that
// the log's repeat check (same status, reason and time) cannot merge them.
func TestStampsAreUnique(t *testing.T) {
	fr := &notifytest.FeedbackRecorder{}
	r := newRecorder(recorderConfig{fr: fr, log: slog.New(slog.NewTextHandler(io.Discard, nil)), workers: 1, max: 10, remembered: 10,
		timeout: time.Second, base: time.Millisecond, maxDelay: time.Millisecond, stats: &counters{}})
	k := recKey{delivery: "d", url: "https://shop.example.com/", kind: notify.StatusClicked}
	now := time.Now()
	for range 3 {
		if !r.hit(k, now) {
			t.Fatal("hit dropped")
		}
		for r.pending() > 0 {
			time.Sleep(time.Millisecond)
		}
	}
	if err := r.close(context.Background()); err != nil {
		t.Fatal(err)
	}
	reps := fr.Reports()
	if len(reps) != 3 {
		t.Fatalf("got %d reports, want 3: %+v", len(reps), reps)
	}
	for i := 1; i < len(reps); i++ {
		if !reps[i].At.After(reps[i-1].At) {
			t.Fatalf("report %d at %v, not after report %d at %v", i, reps[i].At, i-1, reps[i-1].At)
		}
	}
	if reps[1].Detail != "repeat https://shop.example.com/" || reps[1].Detail != reps[2].Detail {
		t.Fatalf("details %q, %q: want two identical repeats", reps[1].Detail, reps[2].Detail)
	}
}
