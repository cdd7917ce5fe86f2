package track

import (
	"errors"
	"strconv"
	"strings"
)

// Words of a Detail's text.
const (
	wordPrefetch = "prefetch"
	wordRepeat   = "repeat"
	wordHits     = "hits="
)

// Detail is what one tracking record says beyond its status, written as
// the event's reason (notify.Feedback.Detail) and read back by
// ParseDetail. Its text is space-separated words, each optional, in this
// order:
//
//	prefetch     the hits were a HEAD request or came from a known
//	             prefetcher or link scanner (see HandlerConfig.PrefetchAgents)
//	repeat       the Handler had already queued a record of the same
//	             delivery, kind, URL and prefetch mark (see Handler)
//	hits=N       the record stands for N hits (N >= 2); absent means one
//	URL          the clicked link's target; absent for an open
//
// So a first click is recorded as its bare URL and a first open with an
// empty reason, as Amazon SES's own click and open events are (their
// reason holds the link), and ParseDetail reads those too.
type Detail struct {
	// URL is the target of a click; empty for an open.
	URL string
	// Hits is how many requests the record stands for, at least 1.
	Hits int
	// Repeat marks a record of hits that followed an earlier record of
	// the same delivery, kind, URL and prefetch mark.
	Repeat bool
	// Prefetch marks hits by a HEAD request or a known prefetcher.
	Prefetch bool
}

// String writes d as ParseDetail reads it.
func (d Detail) String() string {
	var b strings.Builder
	word := func(s string) {
		if b.Len() > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(s)
	}
	if d.Prefetch {
		word(wordPrefetch)
	}
	if d.Repeat {
		word(wordRepeat)
	}
	if d.Hits > 1 {
		word(wordHits + strconv.Itoa(d.Hits))
	}
	if d.URL != "" {
		word(d.URL)
	}
	return b.String()
}

var errDetail = errors.New("track: not a tracking record's detail")

// ParseDetail reads the reason of a clicked or opened event recorded by a
// Handler (or by Amazon SES: a bare link, or nothing). A report counts a
// delivery's clicks or opens as the sum of Hits over its events, and
// unique ones as the number of deliveries with at least one; events
// marked Prefetch may be left out of both.
func ParseDetail(s string) (Detail, error) {
	d := Detail{Hits: 1}
	if s == "" {
		return d, nil
	}
	words := strings.Split(s, " ")
	i := 0
	if i < len(words) && words[i] == wordPrefetch {
		d.Prefetch = true
		i++
	}
	if i < len(words) && words[i] == wordRepeat {
		d.Repeat = true
		i++
	}
	if i < len(words) {
		if n, ok := strings.CutPrefix(words[i], wordHits); ok {
			h, err := strconv.Atoi(n)
			if err != nil || h < 2 || strconv.Itoa(h) != n {
				return Detail{}, errDetail
			}
			d.Hits = h
			i++
		}
	}
	if i < len(words) {
		if !strings.Contains(words[i], "://") {
			return Detail{}, errDetail
		}
		d.URL = words[i]
		i++
	}
	if i != len(words) {
		return Detail{}, errDetail
	}
	return d, nil
}
