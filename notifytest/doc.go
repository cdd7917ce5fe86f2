// Package notifytest holds what tests of notify code need: the conformance
// suites every backend runs, and a scriptable fake [Channel].
//
// # Conformance suites
//
// [TestQueue], [TestStore], [TestLimiter] and [TestDeduper] check one contract
// each (notify.Queue, notify.Store, notify.Limiter, notify.Deduper). Every
// backend's tests call its suite unchanged, with a constructor:
//
//	func TestQueue(t *testing.T) {
//		notifytest.TestQueue(t, func(t *testing.T, cfg notifytest.QueueConfig) notify.Queue {
//			q := memory.New(memory.Config{Visibility: cfg.Visibility})
//			t.Cleanup(func() { q.Close() })
//			return q
//		})
//	}
//
// Guarantees and limits of the suites:
//   - Each suite runs its checks as parallel subtests (t.Run + t.Parallel);
//     every subtest uses its own queue names and keys, derived from t.Name()
//     plus a random suffix (see [UniqueName]), so one shared server serves
//     every subtest and every run.
//   - They use real time with waits of one to two seconds (whole seconds, the
//     granularity of SQS): backends across a network cannot run inside a
//     testing/synctest bubble. Each suite takes under about 15 s of wall time.
//   - Timing checks have a lower bound that is exact up to a small tolerance
//     (a hidden job is never handed out early) and a generous upper bound (a
//     slow, shared machine does not fail them).
//
// # Fake channel
//
// [NewChannel] returns a [Channel] that records every send and whose
// outcomes a test scripts (fail the first n attempts, fail at a rate, add
// latency, or decide per delivery with a function). It is meant for users as
// much as for this module: unit-test the code around a notify.Dispatcher with
// it instead of a provider.
package notifytest
