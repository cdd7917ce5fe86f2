package notify

import (
	"slices"
	"time"
)

// target is one address a delivery goes to, with, for a device, when it
// was registered.
type target struct {
	addr Address
	reg  time.Time
	to   int // index in Notification.To; -1 for an address from the Store
	// bad says why the channel's AddressNormalizer rejects a stored
	// address (then addr is as stored); empty for an address to send to.
	bad string
}

// smallTargets is how many targets targetSet compares one by one before
// it builds an index: below it a scan is cheaper than a map.
const smallTargets = 8

// targetSet collects one channel's targets in order, each address value
// once. Adding n targets costs O(n): past smallTargets the values are
// indexed in a map. The zero value is empty and ready to use.
//
// Its methods take and return it by value (s = s.add(t)): a method on a
// pointer that appends to s.list would make escape analysis move the
// buffer s.list starts in (planner.targetBuf) to the heap with whatever
// holds it.
type targetSet struct {
	list []target
	seen map[string]struct{} // nil until len(list) > smallTargets
}

// add appends t unless a target with the same address value is already
// in the set; it returns the set and whether it did.
func (s targetSet) add(t target) (targetSet, bool) {
	if s.seen == nil {
		for i := range s.list {
			if s.list[i].addr.Value == t.addr.Value {
				return s, false
			}
		}
		s.list = append(s.list, t)
		if len(s.list) > smallTargets {
			s.seen = make(map[string]struct{}, 2*len(s.list))
			for i := range s.list {
				s.seen[s.list[i].addr.Value] = struct{}{}
			}
		}
		return s, true
	}
	if _, ok := s.seen[t.addr.Value]; ok {
		return s, false
	}
	s.seen[t.addr.Value] = struct{}{}
	s.list = append(s.list, t)
	return s, true
}

// addTo adds, in order, the addresses of to on channel ch, each with its
// index in to, and returns the set.
func (s targetSet) addTo(to []Address, ch string) targetSet {
	if len(to) > smallTargets {
		n := 0
		for i := range to {
			if to[i].Channel == ch {
				n++
			}
		}
		s = s.grow(n)
	}
	for i, a := range to {
		if a.Channel == ch {
			s, _ = s.add(target{addr: a, to: i})
		}
	}
	return s
}

// grow makes room for n more targets, and returns the set.
func (s targetSet) grow(n int) targetSet {
	s.list = slices.Grow(s.list, n)
	if s.seen == nil && len(s.list)+n > smallTargets {
		s.seen = make(map[string]struct{}, len(s.list)+n)
		for i := range s.list {
			s.seen[s.list[i].addr.Value] = struct{}{}
		}
	}
	return s
}
