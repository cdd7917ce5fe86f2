package memory

// The timed heap orders delayed jobs and leases by due, earliest first. It is
// written out rather than built on container/heap to keep the hot path free
// of interface calls. Callers hold queue.mu.

func (qu *queue) push(r *job) {
	r.heapIdx = len(qu.timed)
	qu.timed = append(qu.timed, r)
	qu.up(r.heapIdx)
	if r.heapIdx == 0 {
		qu.signal() // the earliest due changed: a waiter must re-arm its timer
	}
}

// remove takes r out of the heap if it is there.
func (qu *queue) remove(r *job) {
	i := r.heapIdx
	if i < 0 {
		return
	}
	last := len(qu.timed) - 1
	if i != last {
		qu.swap(i, last)
	}
	qu.timed[last] = nil
	qu.timed = qu.timed[:last]
	r.heapIdx = -1
	if c := cap(qu.timed); c >= minShrink && last < c/(2*shrinkBelow) {
		qu.timed = append(make([]*job, 0, 2*last), qu.timed...)
	}
	if i != last {
		if !qu.down(i) {
			qu.up(i)
		}
	}
}

func (qu *queue) less(i, j int) bool { return qu.timed[i].due.Before(qu.timed[j].due) }

func (qu *queue) swap(i, j int) {
	h := qu.timed
	h[i], h[j] = h[j], h[i]
	h[i].heapIdx = i
	h[j].heapIdx = j
}

func (qu *queue) up(j int) {
	for j > 0 {
		i := (j - 1) / 2
		if !qu.less(j, i) {
			break
		}
		qu.swap(i, j)
		j = i
	}
}

// down sifts i down and reports whether it moved.
func (qu *queue) down(i0 int) bool {
	i, n := i0, len(qu.timed)
	for {
		l := 2*i + 1
		if l >= n || l < 0 {
			break
		}
		j := l
		if r := l + 1; r < n && qu.less(r, l) {
			j = r
		}
		if !qu.less(j, i) {
			break
		}
		qu.swap(i, j)
		i = j
	}
	return i > i0
}
