package sms

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestAddressCacheBound inserts twice the capacity of caches of several
// sizes: none ever holds more than its size, and the last entry is there.
func TestAddressCacheBound(t *testing.T) {
	for _, size := range []int{1, 2, 3, 16, DefaultNormalizeCache} {
		c := newAddressCache(size)
		for i := range 2 * size {
			k := fmt.Sprintf("+4474%08d", i)
			c.put(k, normalized{e164: k})
			require.LessOrEqual(t, c.len(), size, "size %d, after %d entries", size, i+1)
			v, ok := c.get(k)
			require.True(t, ok, "size %d: the newest entry", size)
			require.Equal(t, k, v.e164)
		}
		if size > 1 {
			assert.GreaterOrEqual(t, c.len(), size/2, "size %d: a full generation is kept", size)
		}
	}
	assert.Nil(t, newAddressCache(0))
	assert.Nil(t, newAddressCache(-1))
}

// TestAddressCacheKeepsRecent checks the eviction order: an entry asked
// for at least once per half-size new entries stays, one not asked for
// goes.
func TestAddressCacheKeepsRecent(t *testing.T) {
	c := newAddressCache(16)
	c.put("hot", normalized{e164: "+1"})
	c.put("cold", normalized{e164: "+2"})
	for i := range 100 {
		c.put(fmt.Sprint(i), normalized{})
		if i%8 == 7 {
			_, ok := c.get("hot")
			require.True(t, ok, "after %d entries", i+1)
		}
	}
	_, ok := c.get("cold")
	assert.False(t, ok)
	v, _ := c.get("hot")
	assert.Equal(t, "+1", v.e164)
}

// TestNewNormalizeCache checks Config.NormalizeCache: zero is the
// default size, negative is no cache.
func TestNewNormalizeCache(t *testing.T) {
	for size, want := range map[int]int{0: DefaultNormalizeCache, -1: 0, 5: 5} {
		ch, err := New(Config{AccountSID: "AC0123456789abcdef0123456789abcdef", AuthToken: "t", From: "+15005550006", NormalizeCache: size})
		require.NoError(t, err)
		if want == 0 {
			assert.Nil(t, ch.cache, "size %d", size)
			continue
		}
		require.NotNil(t, ch.cache)
		assert.Equal(t, want, ch.cache.size, "size %d", size)
	}
}

// BenchmarkAddressCacheMiss is what the cache adds to a NormalizeAddress
// call that parses: a look-up that fails and an insertion, in a full
// cache of the default size.
func BenchmarkAddressCacheMiss(b *testing.B) {
	c := newAddressCache(DefaultNormalizeCache)
	numbers := make([]string, 1<<17)
	for i := range numbers {
		numbers[i] = fmt.Sprintf("+447400%06d", i)
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		in := numbers[i%len(numbers)]
		if _, ok := c.get(in); !ok {
			c.put(in, normalized{e164: in})
		}
		i++
	}
}
