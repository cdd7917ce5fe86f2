package sqlbackend

import (
	"strings"
	"testing"
	"testing/fstest"

	"github.com/gonotify/notify"
)

func TestLoadMigrations(t *testing.T) {
	ms, err := LoadMigrations(fstest.MapFS{
		"m/0002_b.sql": {Data: []byte("B")},
		"m/0010_c.sql": {Data: []byte("C")},
		"m/0001_a.sql": {Data: []byte("A")},
	}, "m")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, m := range ms {
		got = append(got, m.Name+"="+m.SQL)
	}
	if want := "0001_a.sql=A 0002_b.sql=B 0010_c.sql=C"; strings.Join(got, " ") != want {
		t.Errorf("got %v, want %s (in version order)", got, want)
	}
	for name, fsys := range map[string]fstest.MapFS{
		"not numbered":  {"m/init.sql": {}},
		"shared number": {"m/0001_a.sql": {}, "m/0001_b.sql": {}},
	} {
		if _, err := LoadMigrations(fsys, "m"); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

func TestJobBodiesAndEvents(t *testing.T) {
	bodies, err := JobBodies([]notify.Job{{ID: "d1", Queue: "q", Delivery: &notify.Delivery{ID: "d1"}}})
	if err != nil || len(bodies) != 1 || !strings.Contains(bodies[0], `"id":"d1"`) {
		t.Errorf("JobBodies: %q, %v", bodies, err)
	}
	if _, err := JobBodies([]notify.Job{{ID: "d1"}}); err == nil || !strings.Contains(err.Error(), "job 0") {
		t.Errorf("a job without a queue: %v", err)
	}
	if err := CheckEvents([]notify.Event{{DeliveryID: "d1"}, {}}); err == nil || !strings.Contains(err.Error(), "event 1") {
		t.Errorf("an event without a delivery ID: %v", err)
	}
}

func TestDeliveryIDsAndEventsOf(t *testing.T) {
	events := []notify.Event{{DeliveryID: "a"}, {DeliveryID: "b"}, {DeliveryID: "a", Status: notify.StatusCanceled}, {DeliveryID: "c"}}
	ids, err := DeliveryIDs(events)
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(ids, " "); got != "a b a c" {
		t.Errorf("DeliveryIDs = %s, want a b a c (in order)", got)
	}
	if _, err := DeliveryIDs([]notify.Event{{DeliveryID: "a"}, {}}); err == nil || !strings.Contains(err.Error(), "event 1") {
		t.Errorf("an event without a DeliveryID: err = %v, want one naming event 1", err)
	}
	got := EventsOf(events, []string{"c", "a"})
	if len(got) != 3 || got[0] != events[0] || got[1] != events[2] || got[2] != events[3] {
		t.Errorf("EventsOf = %+v, want the events of a and c, in order", got)
	}
	if got := EventsOf(events, nil); len(got) != 0 {
		t.Errorf("EventsOf with no IDs = %+v, want none", got)
	}
}
