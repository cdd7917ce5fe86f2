package console

import (
	"strconv"
	"time"
)

// bucket is five minutes of one channel's last hour.
type bucket struct {
	From                 time.Time
	Queued, Sent, Failed int
	// Bars, laid out by layoutHour.
	X, W, SentY, SentH, FailY, FailH float64
}

// channelChart is one channel's last-hour chart.
type channelChart struct {
	Channel                 string
	Buckets                 []bucket
	Queued, Sent, Failed    int
	Max                     int // the shared scale's top
	Width, Height, Baseline float64
}

// Geometry of the last-hour charts, in SVG user units.
const (
	hourWidth  = 240.0
	hourHeight = 64.0
	hourTop    = 4.0
)

// layoutHour computes each chart's totals and bars, on one scale for
// every channel so that their heights compare.
func layoutHour(charts []channelChart) {
	top := 0
	for i := range charts {
		c := &charts[i]
		for _, b := range c.Buckets {
			c.Queued += b.Queued
			c.Sent += b.Sent
			c.Failed += b.Failed
			top = max(top, b.Sent+b.Failed)
		}
	}
	top = niceCeil(top)
	for i := range charts {
		c := &charts[i]
		c.Max, c.Width, c.Height, c.Baseline = top, hourWidth, hourHeight, hourHeight
		n := float64(len(c.Buckets))
		slot := hourWidth / n
		for j := range c.Buckets {
			b := &c.Buckets[j]
			b.X, b.W = float64(j)*slot+1, slot-2
			b.SentH = scale(b.Sent, top, hourHeight-hourTop)
			b.FailH = scale(b.Failed, top, hourHeight-hourTop)
			b.SentY = hourHeight - b.SentH
			b.FailY = b.SentY - b.FailH
		}
	}
}

// scale maps n of top onto height.
func scale(n, top int, height float64) float64 {
	if top <= 0 || n <= 0 {
		return 0
	}
	return float64(n) / float64(top) * height
}

// niceCeil rounds n up to 1, 2 or 5 times a power of ten (at least 1).
func niceCeil(n int) int {
	if n <= 1 {
		return 1
	}
	p := 1
	for {
		for _, m := range []int{1, 2, 5} {
			if m*p >= n {
				return m * p
			}
		}
		p *= 10
	}
}

// series names the bars of the engagement chart, in order.
var series = []string{"sent", "delivered", "opened", "clicked"}

// barGroup is one group of the engagement chart: a day, or a row.
type barGroup struct {
	Label  string
	Values [4]int
	// Laid out by layoutBars.
	X    float64
	Bars [4]bar
}

type bar struct {
	Series  string
	Value   int
	X, Y, H float64
}

// barChart is the engagement chart.
type barChart struct {
	Groups        []barGroup
	Width, Height float64
	Plot          float64 // the baseline's y
	Max           int
	Ticks         []tick
	Omitted       int // groups left out (the chart shows the first maxGroups)
}

type tick struct {
	Y     float64
	Label string
}

// Geometry of the engagement chart.
const (
	maxGroups   = 60
	groupWidth  = 28.0
	chartLeft   = 48.0
	chartPlot   = 180.0
	chartBottom = 64.0 // room for rotated labels
)

// layoutBars lays groups out as grouped columns, one per series.
func layoutBars(groups []barGroup) barChart {
	c := barChart{}
	if len(groups) > maxGroups {
		c.Omitted = len(groups) - maxGroups
		groups = groups[:maxGroups]
	}
	top := 0
	for _, g := range groups {
		for _, v := range g.Values {
			top = max(top, v)
		}
	}
	top = niceCeil(top)
	c.Max = top
	c.Plot = chartPlot + 8
	c.Width = chartLeft + float64(len(groups))*groupWidth + 8
	c.Height = c.Plot + chartBottom
	for i := range 5 {
		v := top * i / 4
		c.Ticks = append(c.Ticks, tick{Y: c.Plot - scale(v, top, chartPlot), Label: num(v)})
	}
	barW := (groupWidth - 4) / 4
	for i := range groups {
		g := &groups[i]
		g.X = chartLeft + float64(i)*groupWidth
		for s := range 4 {
			h := scale(g.Values[s], top, chartPlot)
			g.Bars[s] = bar{Series: series[s], Value: g.Values[s], X: g.X + 2 + float64(s)*barW, Y: c.Plot - h, H: h}
		}
	}
	c.Groups = groups
	return c
}

// f writes a coordinate with at most one decimal.
func f(x float64) string { return strconv.FormatFloat(x, 'f', 1, 64) }
