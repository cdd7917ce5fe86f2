package console

import (
	"net/http"
	"strconv"
	"time"

	"github.com/gonotify/notify"
)

// What the find page searches by.
const (
	kindNotification = "notification"
	kindEvent        = "event"
	kindUser         = "user"
)

// findPageSize is how many of a user's deliveries a page lists.
const findPageSize = 50

// recordRow is one delivery in a list of them.
type recordRow struct {
	DeliveryID, NotificationID, UserID, Channel, Template, Category, Address, Status, Reason string
	Attempts                                                                                 int
	UpdatedAt                                                                                time.Time
}

func newRecordRow(r notify.DeliveryRecord) recordRow {
	return recordRow{
		DeliveryID: r.DeliveryID, NotificationID: r.NotificationID, UserID: r.UserID, Channel: r.Channel,
		Template: r.Template, Category: r.Category, Address: maskAddress(r.Address), Status: string(r.Status),
		Reason: scrub(r.Reason), Attempts: r.Attempts, UpdatedAt: r.UpdatedAt,
	}
}

// findData is the find page.
type findData struct {
	Kind, Q        string
	Searched       bool
	NotificationID string // the notification an event ID names
	Rows           []recordRow
	Next           string // the next page's query (user searches)
}

func (h *Handler) find(w http.ResponseWriter, r *http.Request) {
	v := h.newView(w, r, "find", "Find a notification")
	vals := r.URL.Query()
	data := findData{Kind: vals.Get("kind"), Q: vals.Get("q")}
	if data.Kind == "" {
		data.Kind = kindUser
	}
	status := http.StatusOK
	switch {
	case data.Kind != kindNotification && data.Kind != kindEvent && data.Kind != kindUser:
		status = badInput(v, "kind", "search by notification, event or user")
	case len(data.Q) > maxFilterLen || len(vals.Get("cursor")) > maxFilterLen:
		status = badInput(v, "q", "longer than 200 characters")
	case data.Q == "":
	default:
		data.Searched = true
		var recs []notify.DeliveryRecord
		var err error
		switch data.Kind {
		case kindNotification:
			recs, err = h.d.Status(r.Context(), data.Q)
		case kindEvent:
			data.NotificationID, recs, err = h.d.StatusByEvent(r.Context(), data.Q)
		case kindUser:
			var p notify.DeliveryPage
			p, err = h.d.UserDeliveries(r.Context(), notify.UserQuery{UserID: data.Q, Limit: findPageSize, Cursor: vals.Get("cursor")})
			recs = p.Records
			if p.Next != "" {
				data.Next = query("kind", data.Kind, "q", data.Q, "cursor", p.Next)
			}
		}
		if err != nil {
			status = h.fail(r, v, "Search", err)
		}
		for _, rec := range recs {
			data.Rows = append(data.Rows, newRecordRow(rec))
		}
		if err == nil && len(recs) == 0 {
			v.Notice = "Nothing found for this " + data.Kind + " " + strconv.Quote(trim(data.Q)) + "."
		}
	}
	v.Data = data
	h.render(w, r, status, "find", v)
}

// deliveryData is one delivery's history.
type deliveryData struct {
	Row    recordRow
	Events []eventRow
	Others []recordRow // the notification's other deliveries
}

type eventRow struct {
	At                         time.Time
	Status, Reason, ProviderID string
	Attempt                    int
	MaybeSent                  bool
}

// delivery shows a delivery's whole log: every event from queued on. The
// link names its notification (n) and the delivery (d).
func (h *Handler) delivery(w http.ResponseWriter, r *http.Request) {
	v := h.newView(w, r, "find", "Delivery")
	vals := r.URL.Query()
	nid, did := vals.Get("n"), vals.Get("d")
	status := http.StatusOK
	var data deliveryData
	switch {
	case nid == "" || did == "":
		status = badInput(v, "n, d", "a notification ID and a delivery ID are required")
	case len(nid) > maxFilterLen || len(did) > maxFilterLen:
		status = badInput(v, "n, d", "longer than 200 characters")
	default:
		recs, err := h.d.Status(r.Context(), nid)
		if err != nil {
			status = h.fail(r, v, "Delivery", err)
			break
		}
		found := false
		for _, rec := range recs {
			if rec.DeliveryID != did {
				data.Others = append(data.Others, newRecordRow(rec))
				continue
			}
			found = true
			data.Row = newRecordRow(rec)
			for _, e := range rec.Events {
				data.Events = append(data.Events, eventRow{
					At: e.At, Status: string(e.Status), Reason: scrub(e.Reason), ProviderID: e.ProviderID,
					Attempt: e.Attempt, MaybeSent: e.MaybeSent,
				})
			}
		}
		if !found {
			v.Banners = append(v.Banners, banner{"Delivery", "no delivery " + strconv.Quote(trim(did)) + " in notification " + strconv.Quote(trim(nid))})
			status = http.StatusNotFound
		}
	}
	v.Data = data
	h.render(w, r, status, "delivery", v)
}
