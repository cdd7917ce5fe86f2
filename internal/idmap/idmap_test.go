package idmap

import (
	"fmt"
	"maps"
	"slices"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

type rec struct {
	id string
	n  int
}

func newRecs(mask uint64) *Map[*rec] {
	m := New(func(r *rec) string { return r.id }, 0)
	m.mask = mask
	return m
}

// check fails t unless m holds exactly what want holds.
func check(t *testing.T, m *Map[*rec], want map[string]int) {
	t.Helper()
	require.Equal(t, len(want), m.Len())
	for id, n := range want {
		r, ok := m.Get(id)
		require.True(t, ok, "%s is missing", id)
		require.Equal(t, n, r.n, "%s", id)
	}
	var ids []string
	for r := range m.All() {
		ids = append(ids, r.id)
	}
	assert.ElementsMatch(t, slices.Collect(maps.Keys(want)), ids)
}

// With 2 hash bits, most IDs collide: each must still be found, replaced
// and deleted by its own ID, whichever of a colliding pair came first.
func TestCollisions(t *testing.T) {
	m := newRecs(3)
	want := map[string]int{}
	for i := range 64 {
		id := fmt.Sprint("id-", i)
		m.Put(&rec{id: id, n: i})
		want[id] = i
	}
	check(t, m, want)
	require.NotEmpty(t, m.spill, "the test needs collisions")
	for i := 0; i < 64; i += 3 {
		id := fmt.Sprint("id-", i)
		m.Delete(id)
		delete(want, id)
		_, ok := m.Get(id)
		require.False(t, ok)
	}
	check(t, m, want)
	for i := 0; i < 64; i += 2 {
		id := fmt.Sprint("id-", i)
		m.Put(&rec{id: id, n: -i})
		want[id] = -i
	}
	check(t, m, want)
	m.Delete("never-put")
	for id := range want {
		m.Delete(id)
	}
	check(t, m, map[string]int{})
	assert.Nil(t, m.spill, "an emptied spill is dropped")
}

// FuzzMap runs a sequence of puts and deletes on a Map whose hash keeps
// few bits and on a Go map, and checks they hold the same.
func FuzzMap(f *testing.F) {
	f.Add([]byte{0, 1, 2, 3, 0x81, 4, 0x82, 1})
	f.Fuzz(func(t *testing.T, ops []byte) {
		m := newRecs(7)
		want := map[string]int{}
		for i, op := range ops {
			id := fmt.Sprint("k", op&0x3f)
			if op&0x80 != 0 {
				m.Delete(id)
				delete(want, id)
				continue
			}
			m.Put(&rec{id: id, n: i})
			want[id] = i
		}
		check(t, m, want)
	})
}
