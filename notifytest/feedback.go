package notifytest

import (
	"context"
	"slices"
	"sync"

	"github.com/gonotify/notify"
)

// FeedbackRecorder is a notify.FeedbackRecorder that keeps every report it
// is given and answers with a settable error, for testing webhook handlers
// without a Dispatcher. Safe for concurrent use.
type FeedbackRecorder struct {
	mu  sync.Mutex
	got []notify.Feedback
	err error
}

var _ notify.FeedbackRecorder = (*FeedbackRecorder)(nil)

// Feedback records fb and returns the error set by Fail, if any.
func (r *FeedbackRecorder) Feedback(_ context.Context, fb notify.Feedback) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.got = append(r.got, fb)
	return r.err
}

// Fail makes every later call return err (nil: succeed again).
func (r *FeedbackRecorder) Fail(err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.err = err
}

// Reports returns every report so far, in order.
func (r *FeedbackRecorder) Reports() []notify.Feedback {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.got)
}
