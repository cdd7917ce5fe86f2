package notify

import (
	"math/rand/v2"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// quadraticTargets is how plan de-duplicated To before targetSet: each
// address compared with every target so far. It is the reference the
// tests compare targetSet with.
func quadraticTargets(to []Address, ch string) []target {
	var targets []target
to:
	for i, a := range to {
		if a.Channel != ch {
			continue
		}
		for _, t := range targets {
			if t.addr.Value == a.Value {
				continue to
			}
		}
		targets = append(targets, target{addr: a, to: i})
	}
	return targets
}

// manyAddresses returns n addresses on "sms" and "email", about a quarter
// of them repeats.
func manyAddresses(n int, seed uint64) []Address {
	r := rand.New(rand.NewPCG(seed, seed))
	to := make([]Address, n)
	for i := range to {
		ch := ChannelSMS
		if r.IntN(4) == 0 {
			ch = ChannelEmail
		}
		to[i] = Address{Channel: ch, Value: "+1555" + strconv.Itoa(r.IntN(n*3/4+1))}
	}
	return to
}

func TestTargetSetKeepsFirstOfEachInOrder(t *testing.T) {
	for _, n := range []int{0, 1, smallTargets - 1, smallTargets, smallTargets + 1, 100, 5000} {
		to := manyAddresses(n, uint64(n))
		for _, ch := range []string{ChannelSMS, ChannelEmail, ChannelAPNs} {
			var s targetSet
			s = s.addTo(to, ch)
			assert.Equal(t, quadraticTargets(to, ch), s.list, "n=%d ch=%s", n, ch)
		}
	}
}

func TestTargetSetAfterDevices(t *testing.T) {
	// Devices come first; a To address repeating a device token is dropped
	// and the device keeps its registration time.
	reg := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	for _, devices := range []int{1, smallTargets + 3} {
		var s targetSet
		for i := range devices {
			var added bool
			s, added = s.add(target{addr: Address{ChannelAPNs, "tok" + strconv.Itoa(i)}, reg: reg, to: -1})
			require.True(t, added)
		}
		s, added := s.add(target{addr: Address{ChannelAPNs, "tok0"}, reg: reg, to: -1})
		require.False(t, added, "a repeated device is added once")
		s = s.addTo([]Address{{ChannelAPNs, "tok0"}, {ChannelAPNs, "new"}, {ChannelSMS, "tok1"}, {ChannelAPNs, "new"}}, ChannelAPNs)
		require.Len(t, s.list, devices+1)
		assert.Equal(t, reg, s.list[0].reg)
		assert.Equal(t, -1, s.list[0].to)
		assert.Equal(t, "new", s.list[devices].addr.Value)
		assert.Equal(t, 1, s.list[devices].to, "the index in To of its first occurrence")
		assert.True(t, s.list[devices].reg.IsZero())
	}
}

// TestTargetSetIsLinear: 40,000 addresses (7.4 s through Send
// with the quadratic scan) take well under a second. Generous on purpose,
// for slow CI machines; BenchmarkTargets has the figures.
func TestTargetSetIsLinear(t *testing.T) {
	to := manyAddresses(40000, 1)
	for i := range to {
		to[i] = Address{Channel: ChannelSMS, Value: "+1555" + strconv.Itoa(i)} // all distinct: the worst case
	}
	start := time.Now()
	var s targetSet
	s = s.addTo(to, ChannelSMS)
	took := time.Since(start)
	require.Len(t, s.list, 40000)
	assert.Less(t, took, time.Second)
}

// BenchmarkTargets compares targetSet with the quadratic scan it replaces.
func BenchmarkTargets(b *testing.B) {
	for _, n := range []int{4, 1000, 40000} {
		to := make([]Address, n)
		for i := range to {
			to[i] = Address{Channel: ChannelSMS, Value: "+1555" + strconv.Itoa(i)}
		}
		b.Run("set/"+strconv.Itoa(n), func(b *testing.B) {
			for b.Loop() {
				targetSet{}.addTo(to, ChannelSMS)
			}
		})
		if n <= 1000 { // quadratic/40000 takes about 10 s an op (10.6 s on a loaded 2-core machine; set/40000: 61 ms)
			b.Run("quadratic/"+strconv.Itoa(n), func(b *testing.B) {
				for b.Loop() {
					quadraticTargets(to, ChannelSMS)
				}
			})
		}
	}
}
