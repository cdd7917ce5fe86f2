package notify

import (
	"context"
	"fmt"
	"log/slog"
)

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

// has reports whether As finds a T in v's chain, and whether v is one
// itself (false when the T was found by unwrapping).
func has[T any](v any) (found, direct bool) {
	if _, ok := v.(T); ok {
		return true, true
	}
	_, found = As[T](v)
	return found, false
}

// capabilityNames lists the optional capabilities (see the package
// documentation) the Dispatcher finds on the configured backends and
// channels, each as "role.Name" ("store.Pruner",
// "channel.fcm.BatchSender"), with "(unwrapped)" after one found through
// Unwrap. It looks in each role for what the Dispatcher uses there.
func capabilityNames(cfg *Config) []string {
	var out []string
	add := func(role, name string, found, direct bool) {
		switch {
		case !found:
		case direct:
			out = append(out, role+"."+name)
		default:
			out = append(out, role+"."+name+"(unwrapped)")
		}
	}
	q := cfg.Queue
	f, dr := has[EventLogQueue](q)
	add("queue", "EventLogQueue", f, dr)
	f, dr = has[Accepter](q)
	add("queue", "Accepter", f, dr)
	f, dr = has[LeaseExtender](q)
	add("queue", "LeaseExtender", f, dr)
	f, dr = has[VisibilityReporter](q)
	add("queue", "VisibilityReporter", f, dr)
	f, dr = has[RepeatEnqueuer](q)
	add("queue", "RepeatEnqueuer", f, dr)
	f, dr = has[Canceler](q)
	add("queue", "Canceler", f, dr)
	f, dr = has[EventLogCanceler](q)
	add("queue", "EventLogCanceler", f, dr)
	f, dr = has[Pruner](q)
	add("queue", "Pruner", f, dr)
	s := cfg.Store
	f, dr = has[OnceRecorder](s)
	add("store", "OnceRecorder", f, dr)
	f, dr = has[Pruner](s)
	add("store", "Pruner", f, dr)
	f, dr = has[DeviceRegistry](s)
	add("store", "DeviceRegistry", f, dr)
	if isProcessLocal(s) {
		_, dr = s.(processLocal)
		add("store", "ProcessLocal", true, dr)
	}
	f, dr = has[BatchDeduper](cfg.Deduper)
	add("deduper", "BatchDeduper", f, dr)
	f, dr = has[ClaimHolder](cfg.Deduper)
	add("deduper", "ClaimHolder", f, dr)
	f, dr = has[Pruner](cfg.Deduper)
	add("deduper", "Pruner", f, dr)
	f, dr = has[BatchLimiter](cfg.Limiter)
	add("limiter", "BatchLimiter", f, dr)
	for _, ch := range cfg.Channels {
		role := "channel." + ch.Name()
		f, dr = has[Validator](ch)
		add(role, "Validator", f, dr)
		f, dr = has[AddressNormalizer](ch)
		add(role, "AddressNormalizer", f, dr)
		f, dr = has[BatchSender](ch)
		add(role, "BatchSender", f, dr)
	}
	return out
}

// logCapabilities logs at debug level, in one line, the configured
// backends' types and the optional capabilities New found on them.
func (d *Dispatcher) logCapabilities() {
	ctx := context.Background()
	if !d.log.Enabled(ctx, slog.LevelDebug) {
		return
	}
	typ := func(v any) string {
		if v == nil {
			return "none"
		}
		return fmt.Sprintf("%T", v)
	}
	d.log.LogAttrs(ctx, slog.LevelDebug, "notify: optional capabilities",
		slog.String("queue", typ(d.cfg.Queue)), slog.String("store", typ(d.cfg.Store)),
		slog.String("deduper", typ(d.cfg.Deduper)), slog.String("limiter", typ(d.cfg.Limiter)),
		slog.Any("capabilities", capabilityNames(&d.cfg)))
}
