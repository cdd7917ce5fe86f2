package idmap

import (
	"fmt"
	"testing"
)

// BenchmarkGrow puts 200,000 new IDs (36 bytes, each its own allocation,
// as the memory backends receive them) into an empty table and looks
// each up once more, as the log does when a delivery is sent: a Map
// against a Go map keyed by the IDs, to show what growing costs when
// every key must be hashed again from bytes that are no longer cached.
//
//	go test -run '^$' -bench Grow -count 6 ./internal/idmap/
func BenchmarkGrow(b *testing.B) {
	const n = 200_000
	recs := make([]*rec, n)
	for i := range recs {
		recs[i] = &rec{id: fmt.Sprintf("%08x-0000-7000-8000-%012x", i*7919, i)}
	}
	b.Run("idmap", func(b *testing.B) {
		for b.Loop() {
			m := New(func(r *rec) string { return r.id }, 0)
			for _, r := range recs {
				m.Put(r)
			}
			for _, r := range recs {
				if _, ok := m.Get(r.id); !ok {
					b.Fatal(r.id)
				}
			}
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/id")
	})
	b.Run("map", func(b *testing.B) {
		for b.Loop() {
			m := make(map[string]*rec)
			for _, r := range recs {
				m[r.id] = r
			}
			for _, r := range recs {
				if m[r.id] == nil {
					b.Fatal(r.id)
				}
			}
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/id")
	})
}
