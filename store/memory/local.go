package memory

// ProcessLocal reports true: what this backend holds lives in this
// process's memory and no other process sees it. The Dispatcher reads it
// to decide whether a stale event claim that its log does not hold may be
// taken over (see notify.Dispatcher.Send).
func (*Store) ProcessLocal() bool { return true }
