package console

import (
	"context"
	"errors"
	"net/http"
	"sync"
	"time"

	"github.com/gonotify/notify"
)

// The last-hour chart: twelve buckets of five minutes.
const (
	chartBuckets = 12
	chartBucket  = 5 * time.Minute
)

// queueRow is one channel's line on the queues page.
type queueRow struct {
	Channel string
	Stats   notify.QueueStats
	Failed  bool // its Stats call failed
}

// liveData is the part of the queues page that refreshes.
type liveData struct {
	Rows    []queueRow
	At      time.Time
	Banners []banner
}

// queuesData is the queues page.
type queuesData struct {
	Live   *view
	Charts []channelChart
	// ChartErr says why there is no chart.
	ChartErr string
	From, To time.Time
}

// stats reads every channel's counts; a channel whose call failed is
// marked and its error becomes a banner.
func (h *Handler) stats(r *http.Request, v *view) ([]queueRow, int) {
	st, err := h.d.Stats(r.Context())
	status := http.StatusOK
	if err != nil {
		status = h.fail(r, v, "Queue statistics", err)
	}
	names := h.d.Channels()
	rows := make([]queueRow, 0, len(names))
	for _, name := range names {
		s, ok := st[name]
		rows = append(rows, queueRow{Channel: name, Stats: s, Failed: !ok})
	}
	if err != nil && len(st) > 0 {
		status = http.StatusOK // some counts are shown; the banner says which failed
	}
	return rows, status
}

func (h *Handler) queues(w http.ResponseWriter, r *http.Request) {
	v := h.newView(w, r, "queues", "Queues")
	v.Refresh = int(h.cfg.RefreshInterval / time.Millisecond)
	live := &view{Prefix: v.Prefix}
	rows, status := h.stats(r, live)
	live.Data = liveData{Rows: rows, At: h.now(), Banners: live.Banners}
	live.Banners = nil
	data := queuesData{Live: live}
	charts, from, to, err := h.chart.get(r.Context(), h, h.now())
	data.From, data.To = from, to
	if err != nil {
		cv := &view{}
		if st := h.fail(r, cv, "Last hour", err); st != http.StatusNotImplemented && status == http.StatusOK {
			status = st
		}
		data.ChartErr = cv.Banners[0].Detail
	} else {
		data.Charts = charts
	}
	v.Data = data
	h.render(w, r, status, "queues", v)
}

// queuesLive serves the refreshing part of the queues page, as an HTML
// fragment the page's script swaps in.
func (h *Handler) queuesLive(w http.ResponseWriter, r *http.Request) {
	v := &view{Prefix: h.cfg.Prefix}
	rows, _ := h.stats(r, v)
	v.Data = liveData{Rows: rows, At: h.now(), Banners: v.Banners}
	v.Banners = nil
	// 200 even when the backend failed: the fragment carries the banner,
	// and a browser reports a failed status as an error of the page.
	h.render(w, r, http.StatusOK, "live", v)
}

// chartCache holds the last-hour chart for Config.ChartMaxAge: it costs
// twelve Report calls.
type chartCache struct {
	mu     sync.Mutex
	at     time.Time
	charts []channelChart
	from   time.Time
	to     time.Time
}

func (c *chartCache) get(ctx context.Context, h *Handler, now time.Time) ([]channelChart, time.Time, time.Time, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if h.cfg.ChartMaxAge > 0 && c.charts != nil && now.Sub(c.at) < h.cfg.ChartMaxAge {
		return c.charts, c.from, c.to, nil
	}
	charts, from, to, err := h.lastHour(ctx, now)
	if err != nil {
		return nil, from, to, err
	}
	c.charts, c.at, c.from, c.to = charts, now, from, to
	return charts, from, to, nil
}

// lastHour counts, per channel and five minutes of the last hour, the
// deliveries queued and how many of them were sent and failed: one Report
// grouped by channel per bucket, run concurrently.
func (h *Handler) lastHour(ctx context.Context, now time.Time) ([]channelChart, time.Time, time.Time, error) {
	to := now.UTC().Truncate(chartBucket).Add(chartBucket)
	from := to.Add(-chartBuckets * chartBucket)
	var (
		wg      sync.WaitGroup
		buckets [chartBuckets][]notify.ReportRow
		errs    [chartBuckets]error
	)
	for i := range chartBuckets {
		wg.Go(func() {
			since := from.Add(time.Duration(i) * chartBucket)
			buckets[i], errs[i] = h.d.Report(ctx, notify.ReportQuery{Since: since, Until: since.Add(chartBucket), GroupBy: []string{notify.ByChannel}})
		})
	}
	wg.Wait()
	if err := errors.Join(errs[:]...); err != nil {
		if errors.Is(err, errors.ErrUnsupported) {
			return nil, from, to, errs[0]
		}
		return nil, from, to, err
	}
	byChannel := map[string]*channelChart{}
	var charts []channelChart
	for _, name := range h.d.Channels() {
		charts = append(charts, channelChart{Channel: name, Buckets: make([]bucket, chartBuckets)})
	}
	for i := range charts {
		byChannel[charts[i].Channel] = &charts[i]
		for b := range chartBuckets {
			charts[i].Buckets[b].From = from.Add(time.Duration(b) * chartBucket)
		}
	}
	for b, rows := range buckets {
		for _, row := range rows {
			c := byChannel[row.Channel]
			if c == nil {
				continue // a channel this Dispatcher no longer has
			}
			c.Buckets[b].Queued = row.Deliveries
			c.Buckets[b].Sent = row.Sent
			c.Buckets[b].Failed = row.Failed
		}
	}
	layoutHour(charts)
	return charts, from, to, nil
}
