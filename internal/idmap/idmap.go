// Package idmap is a map from string IDs to values for the memory backends'
// large tables (hundreds of thousands of entries): it is keyed by each ID's
// seeded 64-bit hash, so that growing it never reads the IDs' bytes,
// which in such a table are rarely in the CPU's cache, and a probe reads
// only the ID of the value it finds. A Go map keyed by the strings
// themselves hashes every key again whenever it grows, one cache miss per
// key.
//
// Every value holds its own ID (the Map reads it with the function given to
// New), which a lookup compares with the ID it was asked for: two IDs with
// one hash never meet, the second one's value is kept in a small map keyed
// by the ID itself.
//
// A Map is not safe for concurrent use: its owner locks it.
package idmap

import (
	"hash/maphash"
	"iter"
)

// Map maps string IDs to values of type V, each of which holds its ID.
type Map[V any] struct {
	seed   maphash.Seed
	mask   uint64 // of the hash's bits, all of them but in tests of collisions
	idOf   func(V) string
	byHash map[uint64]V
	// spill holds the values whose ID's hash a value with another ID held
	// when they were put: nil until a collision, which 64-bit hashes make
	// rare (about one table of a million IDs in 3×10^7 has one).
	spill map[string]V
}

// New returns an empty Map whose values' IDs idOf reads, with room for
// size values before it grows.
func New[V any](idOf func(V) string, size int) *Map[V] {
	return &Map[V]{seed: maphash.MakeSeed(), mask: ^uint64(0), idOf: idOf, byHash: make(map[uint64]V, size)}
}

// Hash returns id's hash in m: the key of GetAt, PutAt and DeleteAt, for
// a caller that looks an ID up and then puts or deletes it, or that keeps
// the hash of a value whose ID's bytes are no longer in the CPU's cache.
func (m *Map[V]) Hash(id string) uint64 { return maphash.String(m.seed, id) & m.mask }

// Get returns the value with that ID, and whether there is one.
func (m *Map[V]) Get(id string) (V, bool) { return m.GetAt(m.Hash(id), id) }

// GetAt is Get of the ID whose Hash is h.
func (m *Map[V]) GetAt(h uint64, id string) (V, bool) {
	v, ok := m.byHash[h]
	if ok && m.idOf(v) == id {
		return v, true
	}
	if m.spill != nil {
		v, ok = m.spill[id]
		return v, ok
	}
	var zero V
	return zero, false
}

// Put sets the value with v's ID to v.
func (m *Map[V]) Put(v V) { m.PutAt(m.Hash(m.idOf(v)), v) }

// PutAt is Put of v, whose ID's Hash is h.
func (m *Map[V]) PutAt(h uint64, v V) {
	id := m.idOf(v)
	if cur, ok := m.byHash[h]; ok && m.idOf(cur) != id {
		if m.spill == nil {
			m.spill = make(map[string]V)
		}
		m.spill[id] = v
		return
	}
	m.byHash[h] = v
	if m.spill != nil {
		delete(m.spill, id)
	}
}

// Delete removes the value with that ID, if there is one.
func (m *Map[V]) Delete(id string) { m.DeleteAt(m.Hash(id), id) }

// DeleteAt is Delete of the ID whose Hash is h. Given the very string the
// value holds as its ID, it compares the two without reading their bytes.
func (m *Map[V]) DeleteAt(h uint64, id string) {
	if cur, ok := m.byHash[h]; ok && m.idOf(cur) == id {
		delete(m.byHash, h)
		return
	}
	if m.spill != nil {
		delete(m.spill, id)
		if len(m.spill) == 0 {
			m.spill = nil
		}
	}
}

// Len returns how many values m holds.
func (m *Map[V]) Len() int { return len(m.byHash) + len(m.spill) }

// All yields m's values, in no particular order. m must not change while
// it runs.
func (m *Map[V]) All() iter.Seq[V] {
	return func(yield func(V) bool) {
		for _, v := range m.byHash {
			if !yield(v) {
				return
			}
		}
		for _, v := range m.spill {
			if !yield(v) {
				return
			}
		}
	}
}
