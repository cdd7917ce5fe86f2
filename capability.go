package notify

// Unwrapper is implemented by a value that wraps a backend or a channel (a
// metrics or tracing wrapper around a Store, say) to give the value it
// wraps. The Dispatcher looks for optional capabilities (see the package
// documentation's list) with As, which follows Unwrap, so a wrapper that
// embeds notify.Store does not hide its Store's Pruner or batch methods.
//
// A capability found by unwrapping is called on the wrapped value,
// bypassing the wrapper, as errors.As bypasses a wrapping error. A wrapper
// that must see those calls (to count them, say) implements the capability
// itself.
type Unwrapper interface {
	Unwrap() any
}

// maxUnwrap bounds the chain As follows, so a wrapper that returns itself
// cannot loop forever.
const maxUnwrap = 32

// As finds the first value in v's chain that implements T: v itself, then
// v.Unwrap(), and so on while the value implements Unwrapper. It reports
// false when none does.
func As[T any](v any) (T, bool) {
	for range maxUnwrap {
		if t, ok := v.(T); ok {
			return t, true
		}
		u, ok := v.(Unwrapper)
		if !ok {
			break
		}
		if v = u.Unwrap(); v == nil {
			break
		}
	}
	var zero T
	return zero, false
}
