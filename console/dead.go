package console

import (
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gonotify/notify"
)

// Bounds of the dead-letter pages.
const (
	deadPageSize = 50
	// maxCount bounds how many dead deliveries the confirmation page
	// counts before it says "at least".
	maxCount = 10_000
	// maxFilterLen bounds a text filter.
	maxFilterLen = 200
)

// deadFilter is a dead-letter listing's filter, as its form sends it.
type deadFilter struct {
	Channel, Reason, Since, Until, Cursor string
}

// query returns f's query string (without the cursor unless withCursor).
func (f deadFilter) query(withCursor bool) string {
	cur := ""
	if withCursor {
		cur = f.Cursor
	}
	return query("channel", f.Channel, "reason", f.Reason, "since", f.Since, "until", f.Until, "cursor", cur)
}

// Query is the filter's query string, for links.
func (f deadFilter) Query() string { return f.query(false) }

// parseDeadFilter reads and checks a filter from form values: the channel
// must be one of the Dispatcher's, the times "2006-01-02" or
// "2006-01-02T15:04" (UTC). An empty channel is the first with dead
// deliveries, or the first.
func (h *Handler) parseDeadFilter(vals url.Values, v *view) (deadFilter, notify.DeadQuery, int) {
	f := deadFilter{
		Channel: vals.Get("channel"), Reason: vals.Get("reason"),
		Since: vals.Get("since"), Until: vals.Get("until"), Cursor: vals.Get("cursor"),
	}
	q := notify.DeadQuery{Reason: f.Reason, Cursor: f.Cursor, Limit: deadPageSize}
	if f.Channel != "" && !slices.Contains(h.d.Channels(), f.Channel) {
		return f, q, badInput(v, "channel", "no channel named "+strconv.Quote(trim(f.Channel)))
	}
	if len(f.Reason) > maxFilterLen {
		return f, q, badInput(v, "reason", "longer than 200 characters")
	}
	if len(f.Cursor) > maxFilterLen {
		return f, q, badInput(v, "cursor", "not a cursor this page made")
	}
	var err error
	if q.Since, err = parseTime(f.Since); err != nil {
		return f, q, badInput(v, "since", err.Error())
	}
	if q.Until, err = parseTime(f.Until); err != nil {
		return f, q, badInput(v, "until", err.Error())
	}
	if !q.Since.IsZero() && !q.Until.IsZero() && !q.Until.After(q.Since) {
		return f, q, badInput(v, "until", "must be after since")
	}
	return f, q, http.StatusOK
}

// parseTime reads "2006-01-02", "2006-01-02T15:04" or RFC 3339; empty is
// the zero time.
func parseTime(s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	for _, layout := range []string{"2006-01-02", "2006-01-02T15:04", "2006-01-02T15:04:05", time.RFC3339} {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC(), nil
		}
	}
	return time.Time{}, &timeError{trim(s)}
}

type timeError struct{ s string }

func (e *timeError) Error() string {
	return strconv.Quote(e.s) + " is not a date (2006-01-02) or a UTC time (2006-01-02T15:04)"
}

// trim bounds a user's string echoed in a message.
func trim(s string) string {
	if len(s) > 64 {
		return s[:64] + "…"
	}
	return s
}

// deadRow is one dead delivery in the list.
type deadRow struct {
	ID, NotificationID, UserID, Template, Category, Address, Reason string
	Attempts                                                        int
	DiedAt                                                          time.Time
}

// deadData is the dead-letter list.
type deadData struct {
	Filter   deadFilter
	Channels []channelCount
	Rows     []deadRow
	Next     string // the next page's query
	Replayed string // what the last replay did
}

type channelCount struct {
	Channel  string
	Dead     int
	Known    bool
	Selected bool
}

func (h *Handler) deadList(w http.ResponseWriter, r *http.Request) {
	v := h.newView(w, r, "dead", "Dead letters")
	f, q, status := h.parseDeadFilter(r.URL.Query(), v)
	data := deadData{Filter: f}
	if n := r.URL.Query().Get("replayed"); n != "" {
		if k, err := strconv.Atoi(n); err == nil && k >= 0 {
			data.Replayed = "Replayed " + num(k) + " dead " + plural(k, "delivery", "deliveries") + "."
		}
	}
	st, serr := h.d.Stats(r.Context())
	if serr != nil && len(st) == 0 && status == http.StatusOK {
		status = h.fail(r, v, "Queue statistics", serr)
	}
	for _, name := range h.d.Channels() {
		s, ok := st[name]
		data.Channels = append(data.Channels, channelCount{Channel: name, Dead: s.Dead, Known: ok})
		if data.Filter.Channel == "" && ok && s.Dead > 0 {
			data.Filter.Channel = name
		}
	}
	if data.Filter.Channel == "" && len(data.Channels) > 0 {
		data.Filter.Channel = data.Channels[0].Channel
	}
	for i := range data.Channels {
		data.Channels[i].Selected = data.Channels[i].Channel == data.Filter.Channel
	}
	if status == http.StatusOK {
		p, err := h.d.Dead(r.Context(), data.Filter.Channel, q)
		if err != nil {
			status = h.fail(r, v, "Dead letters of "+data.Filter.Channel, err)
		} else {
			for _, j := range p.Jobs {
				data.Rows = append(data.Rows, newDeadRow(j))
			}
			if p.Next != "" {
				nf := data.Filter
				nf.Cursor = p.Next
				data.Next = nf.query(true)
			}
		}
	}
	v.Data = data
	h.render(w, r, status, "dead", v)
}

func newDeadRow(j notify.DeadJob) deadRow {
	row := deadRow{ID: j.Job.ID, Attempts: j.Attempts, Reason: scrub(j.Reason), DiedAt: j.DiedAt}
	if d := j.Job.Delivery; d != nil {
		row.NotificationID, row.UserID, row.Template, row.Category = d.NotificationID, d.UserID, d.Template, d.Category
		row.Address = maskAddress(d.Address)
	}
	return row
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// deadItemData is one dead delivery, redacted.
type deadItemData struct {
	Filter   deadFilter
	Row      deadRow
	Delivery *notify.Delivery
	Data     []field
	Message  []field
	MsgData  []field
	Metadata []field
	Options  string
}

// findDead looks id up among channel's dead deliveries: on the page the
// cursor names first (the list page the link came from), then from the
// newest, up to maxCount deliveries.
func (h *Handler) findDead(r *http.Request, channel, id, cursor string) (notify.DeadJob, bool, error) {
	try := func(c string, pages int) (notify.DeadJob, bool, error) {
		for range pages {
			p, err := h.d.Dead(r.Context(), channel, notify.DeadQuery{Cursor: c, Limit: 1000})
			if err != nil {
				return notify.DeadJob{}, false, err
			}
			for _, j := range p.Jobs {
				if j.Job.ID == id {
					return j, true, nil
				}
			}
			if p.Next == "" {
				break
			}
			c = p.Next
		}
		return notify.DeadJob{}, false, nil
	}
	if cursor != "" {
		// A cursor that is stale or malformed is no reason to fail: the
		// search from the newest follows.
		if j, ok, err := try(cursor, 1); err == nil && ok {
			return j, true, nil
		}
	}
	return try("", maxCount/1000)
}

func (h *Handler) deadItem(w http.ResponseWriter, r *http.Request) {
	v := h.newView(w, r, "dead", "Dead letter")
	vals := r.URL.Query()
	f, _, status := h.parseDeadFilter(vals, v)
	id := vals.Get("id")
	if status == http.StatusOK && (f.Channel == "" || id == "" || len(id) > maxFilterLen) {
		status = badInput(v, "channel, id", "both are required")
	}
	data := deadItemData{Filter: f}
	if status == http.StatusOK {
		j, ok, err := h.findDead(r, f.Channel, id, f.Cursor)
		switch {
		case err != nil:
			status = h.fail(r, v, "Dead letter", err)
		case !ok:
			v.Banners = append(v.Banners, banner{"Dead letter", "no dead delivery " + strconv.Quote(trim(id)) + " on " + f.Channel + " (replayed already?)"})
			status = http.StatusNotFound
		default:
			data.Row = newDeadRow(j)
			if d := j.Job.Delivery; d != nil {
				data.Delivery = d
				data.Data = redactAny(d.Data)
				data.Metadata = redactStrings(d.Metadata)
				data.MsgData = redactStrings(d.Message.Data)
				data.Options = redactRaw(d.Options)
				data.Message = messageFields(d.Message)
			}
		}
	}
	v.Data = data
	h.render(w, r, status, "deaditem", v)
}

// messageFields lists a message's non-empty content, links redacted.
func messageFields(m notify.Message) []field {
	var out []field
	for _, p := range []field{{"Title", m.Title}, {"Subtitle", m.Subtitle}, {"Subject", m.Subject}, {"Body", m.Body}, {"Text", m.Text}, {"HTML", m.HTML}} {
		if p.Value == "" {
			continue
		}
		val := redactLinks(p.Value)
		if len(val) > 4000 {
			val = val[:4000] + "…"
		}
		out = append(out, field{p.Name, val})
	}
	return out
}

// confirmData is the confirmation page of a replay.
type confirmData struct {
	Filter  deadFilter
	ID      string   // one delivery; empty: every one the filter selects
	Row     *deadRow // the one delivery
	Count   int
	AtLeast bool
}

// replayConfirm shows what a replay would do; it changes nothing.
func (h *Handler) replayConfirm(w http.ResponseWriter, r *http.Request) {
	v := h.newView(w, r, "dead", "Replay dead letters")
	vals := r.URL.Query()
	f, q, status := h.parseDeadFilter(vals, v)
	f.Cursor = ""
	data := confirmData{Filter: f, ID: vals.Get("id")}
	if h.cfg.ReadOnly {
		v.Banners = append(v.Banners, banner{"Read-only", "this console does not replay"})
		status = http.StatusForbidden
	}
	if status == http.StatusOK && (f.Channel == "" || len(data.ID) > maxFilterLen) {
		status = badInput(v, "channel", "required")
	}
	if status == http.StatusOK {
		if data.ID != "" {
			j, ok, err := h.findDead(r, f.Channel, data.ID, vals.Get("cursor"))
			switch {
			case err != nil:
				status = h.fail(r, v, "Dead letter", err)
			case !ok:
				v.Banners = append(v.Banners, banner{"Dead letter", "no dead delivery " + strconv.Quote(trim(data.ID)) + " on " + f.Channel + " (replayed already?)"})
				status = http.StatusNotFound
			default:
				row := newDeadRow(j)
				data.Row, data.Count = &row, 1
			}
		} else {
			q.Cursor, q.Limit = "", 1000
			for data.Count < maxCount {
				p, err := h.d.Dead(r.Context(), f.Channel, q)
				if err != nil {
					status = h.fail(r, v, "Dead letters of "+f.Channel, err)
					break
				}
				data.Count += len(p.Jobs)
				if p.Next == "" {
					break
				}
				q.Cursor = p.Next
				data.AtLeast = data.Count >= maxCount
			}
		}
	}
	v.Data = data
	h.render(w, r, status, "confirm", v)
}

// replay replays one dead delivery (form field id) or every one of a
// channel that the form's filter selects, then sends the browser back to
// the list.
func (h *Handler) replay(w http.ResponseWriter, r *http.Request) {
	v := h.newView(w, r, "dead", "Replay dead letters")
	if h.cfg.ReadOnly {
		v.Banners = append(v.Banners, banner{"Read-only", "this console does not replay"})
		h.render(w, r, http.StatusForbidden, "confirm", v)
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	if err := r.ParseForm(); err != nil {
		h.render(w, r, badInput(v, "form", "unreadable or too large"), "confirm", v)
		return
	}
	if !h.csrf.check(r) {
		v.Banners = append(v.Banners, banner{"Not replayed", "the form's CSRF token is missing or does not match this browser's; reload the page and try again"})
		v.Data = confirmData{}
		h.render(w, r, http.StatusForbidden, "confirm", v)
		return
	}
	f, q, status := h.parseDeadFilter(r.PostForm, v)
	id := r.PostFormValue("id")
	if status == http.StatusOK && (f.Channel == "" || len(id) > maxFilterLen) {
		status = badInput(v, "channel", "required")
	}
	if status != http.StatusOK {
		v.Data = confirmData{Filter: f}
		h.render(w, r, status, "confirm", v)
		return
	}
	n := 0
	var err error
	if id != "" {
		if err = h.d.Replay(r.Context(), id); err == nil {
			n = 1
		}
	} else {
		q.Cursor, q.Limit = "", 1000
		n, err = h.d.ReplayDead(r.Context(), f.Channel, q)
	}
	if err != nil {
		status = h.fail(r, v, "Replay", err)
		if n > 0 {
			v.Notice = "Replayed " + num(n) + " before the error; replaying again continues."
		}
		v.Data = confirmData{Filter: f, ID: id}
		h.render(w, r, status, "confirm", v)
		return
	}
	f.Cursor = ""
	target := h.cfg.Prefix + "/dead" + f.Query()
	if strings.Contains(target, "?") {
		target += "&"
	} else {
		target += "?"
	}
	http.Redirect(w, r, target+"replayed="+strconv.Itoa(n), http.StatusSeeOther)
}
