package console

import (
	"net/http"
	"slices"
	"time"

	"github.com/gonotify/notify"
)

// maxReportDays bounds an engagement report's range.
const maxReportDays = 400

// engagementData is the engagement page.
type engagementData struct {
	Since, Until string // the form's dates
	By           map[string]bool
	Dims         []string // the dimensions grouped by, in table order
	Rows         []notify.ReportRow
	Total        notify.ReportRow
	Chart        barChart
	ChartBy      string // what a chart group is: "day" or "row"
	Loaded       bool
}

// dimensionOrder is the order of the table's dimension columns.
var dimensionOrder = []string{notify.ByDay, notify.ByTemplate, notify.ByCategory, notify.ByChannel}

func (h *Handler) engagement(w http.ResponseWriter, r *http.Request) {
	v := h.newView(w, r, "engagement", "Engagement")
	vals := r.URL.Query()
	today := h.now().UTC().Truncate(24 * time.Hour)
	data := engagementData{Since: vals.Get("since"), Until: vals.Get("until"), By: map[string]bool{}}
	if data.Until == "" {
		data.Until = today.Add(24 * time.Hour).Format("2006-01-02")
	}
	if data.Since == "" {
		data.Since = today.Add(-6 * 24 * time.Hour).Format("2006-01-02")
	}
	by := vals["by"]
	if _, ok := vals["by"]; !ok {
		by = []string{notify.ByChannel, notify.ByDay}
	}
	status := http.StatusOK
	since, err := parseTime(data.Since)
	if err != nil {
		status = badInput(v, "since", err.Error())
	}
	until, err := parseTime(data.Until)
	if err != nil && status == http.StatusOK {
		status = badInput(v, "until", err.Error())
	}
	if status == http.StatusOK && until.Sub(since) > maxReportDays*24*time.Hour {
		status = badInput(v, "until", "a report spans at most 400 days")
	}
	if len(by) > len(dimensionOrder) {
		by = by[:len(dimensionOrder)+1] // CheckReportQuery names the extra one
	}
	for _, b := range by {
		data.By[b] = true
	}
	for _, d := range dimensionOrder {
		if data.By[d] {
			data.Dims = append(data.Dims, d)
		}
	}
	if status == http.StatusOK {
		rows, err := h.d.Report(r.Context(), notify.ReportQuery{Since: since, Until: until, GroupBy: by})
		if err != nil {
			status = h.fail(r, v, "Report", err)
		} else {
			data.Loaded = true
			data.Rows = rows
			data.Total = total(rows)
			data.Chart, data.ChartBy = engagementChart(rows, data.By[notify.ByDay])
		}
	}
	v.Data = data
	h.render(w, r, status, "engagement", v)
}

// total adds rows up, with the rates of the sum.
func total(rows []notify.ReportRow) notify.ReportRow {
	var t notify.ReportRow
	for _, r := range rows {
		t.Deliveries += r.Deliveries
		t.Sent += r.Sent
		t.Delivered += r.Delivered
		t.Failed += r.Failed
		t.Opened += r.Opened
		t.Clicked += r.Clicked
	}
	one := []notify.ReportRow{t}
	notify.SortReport(one)
	return one[0]
}

// engagementChart groups rows by day (summing the other dimensions) when
// the report is by day, else draws one group per row.
func engagementChart(rows []notify.ReportRow, byDay bool) (barChart, string) {
	var groups []barGroup
	if byDay {
		idx := map[time.Time]int{}
		for _, r := range rows {
			i, ok := idx[r.Day]
			if !ok {
				i = len(groups)
				idx[r.Day] = i
				groups = append(groups, barGroup{Label: r.Day.Format("01-02")})
			}
			addValues(&groups[i], r)
		}
		return layoutBars(groups), "day"
	}
	for _, r := range rows {
		parts := slices.DeleteFunc([]string{r.Template, r.Category, r.Channel}, func(s string) bool { return s == "" })
		label := "all"
		if len(parts) > 0 {
			label = parts[0]
			for _, p := range parts[1:] {
				label += "/" + p
			}
		}
		g := barGroup{Label: label}
		addValues(&g, r)
		groups = append(groups, g)
	}
	return layoutBars(groups), "row"
}

func addValues(g *barGroup, r notify.ReportRow) {
	g.Values[0] += r.Sent
	g.Values[1] += r.Delivered
	g.Values[2] += r.Opened
	g.Values[3] += r.Clicked
}
