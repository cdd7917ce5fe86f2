package notify

import (
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"
)

// Clock is a time of day on a wall clock, in minutes since midnight: 0
// (00:00) to 1439 (23:59). Its text form, in JSON too, is "HH:MM" on a
// 24-hour clock.
type Clock int

// minutesPerDay is the number of Clock values.
const minutesPerDay = 24 * 60

// ClockAt returns the Clock of hour:minute: ClockAt(22, 30) is 22:30.
// When hour is not 0 to 23 or minute not 0 to 59 it returns an invalid
// Clock (see Clock.Valid), which PutContact and New reject.
func ClockAt(hour, minute int) Clock {
	if hour < 0 || hour > 23 || minute < 0 || minute > 59 {
		return -1
	}
	return Clock(hour*60 + minute)
}

// ParseClock parses "HH:MM", 24-hour, 00:00 to 23:59 ("07:00", "22:30").
// The hour may have one digit ("7:00").
func ParseClock(s string) (Clock, error) {
	hh, mm, ok := strings.Cut(s, ":")
	h, okh := digits(hh, 1)
	m, okm := digits(mm, 2)
	if !ok || !okh || !okm || h > 23 || m > 59 {
		return 0, fmt.Errorf("notify: clock %q: want HH:MM on a 24-hour clock, 00:00 to 23:59 (say \"22:00\")", clip(s))
	}
	return Clock(h*60 + m), nil
}

// digits parses s as a number of 2 digits, or of min to 2 digits.
func digits(s string, min int) (int, bool) {
	if len(s) < min || len(s) > 2 {
		return 0, false
	}
	n := 0
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
		n = n*10 + int(s[i]-'0')
	}
	return n, true
}

// clip shortens s for an error message, so a huge input does not make a
// huge error.
func clip(s string) string {
	if len(s) > 32 {
		return s[:32] + "..."
	}
	return s
}

// Valid reports whether c is a time of day (0 to 1439).
func (c Clock) Valid() bool { return c >= 0 && c < minutesPerDay }

// String returns c as "HH:MM", or "invalid clock N" when c is not Valid.
func (c Clock) String() string {
	if !c.Valid() {
		return fmt.Sprintf("invalid clock %d", int(c))
	}
	return fmt.Sprintf("%02d:%02d", int(c)/60, int(c)%60)
}

// MarshalText returns c as "HH:MM"; an invalid c is an error.
func (c Clock) MarshalText() ([]byte, error) {
	if !c.Valid() {
		return nil, fmt.Errorf("notify: clock %d is not a time of day (0 to 1439 minutes)", int(c))
	}
	return []byte(c.String()), nil
}

// UnmarshalText parses "HH:MM" as ParseClock does.
func (c *Clock) UnmarshalText(b []byte) error {
	v, err := ParseClock(string(b))
	if err != nil {
		return err
	}
	*c = v
	return nil
}

// QuietHours is a window of a user's day, by the wall clock of their time
// zone, during which deliveries that are not Critical wait: from Start up
// to (not including) End. A window whose End is not after its Start
// crosses midnight ("22:00-07:00"). A window whose Start equals End is
// empty: no quiet hours; its text form is "none".
//
// The window follows the wall clock through daylight-saving changes: on a
// night the clocks spring forward a 22:00-07:00 window lasts an hour less,
// and an End the clocks skip (02:30 where 02:00 jumps to 03:00) ends the
// window at the jump; on a night they fall back it lasts an hour more,
// and an End in the repeated hour ends the window at its first
// occurrence.
type QuietHours struct {
	Start Clock
	End   Clock
}

// ParseQuietHours parses "HH:MM-HH:MM" ("22:00-07:00"), or "none" for
// empty quiet hours.
func ParseQuietHours(s string) (QuietHours, error) {
	if s == "none" {
		return QuietHours{}, nil
	}
	a, b, ok := strings.Cut(s, "-")
	if !ok {
		return QuietHours{}, fmt.Errorf("notify: quiet hours %q: want START-END on a 24-hour clock (say \"22:00-07:00\"), or \"none\"", clip(s))
	}
	start, err := ParseClock(strings.TrimSpace(a))
	if err != nil {
		return QuietHours{}, fmt.Errorf("notify: quiet hours %q: start: %w", clip(s), err)
	}
	end, err := ParseClock(strings.TrimSpace(b))
	if err != nil {
		return QuietHours{}, fmt.Errorf("notify: quiet hours %q: end: %w", clip(s), err)
	}
	return QuietHours{Start: start, End: end}, nil
}

// IsZero reports whether q is empty: no quiet hours (its Start equals its
// End).
func (q QuietHours) IsZero() bool { return q.Start == q.End }

// String returns q as "HH:MM-HH:MM", or "none" when it is empty.
func (q QuietHours) String() string {
	if q.IsZero() {
		return "none"
	}
	return q.Start.String() + "-" + q.End.String()
}

// MarshalText returns q as String does; an invalid Start or End is an
// error.
func (q QuietHours) MarshalText() ([]byte, error) {
	if err := q.check(""); err != nil {
		return nil, err
	}
	return []byte(q.String()), nil
}

// UnmarshalText parses q as ParseQuietHours does.
func (q *QuietHours) UnmarshalText(b []byte) error {
	v, err := ParseQuietHours(string(b))
	if err != nil {
		return err
	}
	*q = v
	return nil
}

// check returns a *ValidationError naming field+".Start" or field+".End"
// when either is not a time of day.
func (q QuietHours) check(field string) error {
	if field != "" {
		field += "."
	}
	for _, c := range [2]struct {
		name string
		v    Clock
	}{{"Start", q.Start}, {"End", q.End}} {
		if !c.v.Valid() {
			return invalid(field+c.name, "%d is not a time of day: give minutes since midnight, 0 to 1439 (ClockAt(22, 0), or ParseClock(\"22:00\"))", int(c.v))
		}
	}
	return nil
}

// Contains reports whether t, read on the wall clock of t's Location, is
// within q.
func (q QuietHours) Contains(t time.Time) bool {
	if q.IsZero() || !q.Start.Valid() || !q.End.Valid() {
		return false
	}
	h, m, _ := t.Clock()
	c := Clock(h*60 + m)
	if q.Start < q.End {
		return q.Start <= c && c < q.End
	}
	return c >= q.Start || c < q.End
}

// Until returns the instant at which the quiet hours that contain t end,
// by the wall clock of t's Location, and true; or t and false when t is
// not within q. Across a daylight-saving change the window follows the
// wall clock (see QuietHours): the end is the first instant after t whose
// wall clock is outside the window.
func (q QuietHours) Until(t time.Time) (time.Time, bool) {
	if !q.Contains(t) {
		return t, false
	}
	end := time.Duration(q.End) * time.Minute
	cur := t
	// Within one zone period (between two offset changes) the wall clock
	// runs with real time: the window ends when it reaches End, unless the
	// offset changes first; then the walk goes on from the change. A few
	// steps cover any real zone (a change per window, and then some).
	for range 8 {
		h, m, s := cur.Clock()
		wall := time.Duration(h)*time.Hour + time.Duration(m)*time.Minute + time.Duration(s)*time.Second + time.Duration(cur.Nanosecond())
		left := end - wall
		if left <= 0 {
			left += 24 * time.Hour
		}
		at := cur.Add(left)
		_, change := cur.ZoneBounds()
		if change.IsZero() || change.After(at) || !change.After(cur) {
			return at, true
		}
		// The offset changes before the wall clock reaches End, or as it
		// does (then the new offset may put it back in the window: 02:00
		// EDT is 01:00 EST).
		cur = change
		if !q.Contains(cur) {
			return cur, true // the clock jumped out of the window
		}
	}
	return cur, true
}

// checkQuietHours checks the quiet hours of cfg's category policies.
func checkQuietHours(cfg *Config) error {
	if err := cfg.DefaultPolicy.QuietHours.check(""); err != nil {
		return fmt.Errorf("notify: Config.DefaultPolicy.QuietHours: %w", err)
	}
	for name, p := range cfg.Categories {
		if err := p.QuietHours.check(""); err != nil {
			return fmt.Errorf("notify: Config.Categories[%q].QuietHours: %w", name, err)
		}
	}
	return nil
}

// quietHoursOf is the window a delivery of n to a user with contact c
// waits out, copied for the delivery: c's own, or else the category's
// policy's; nil for a Critical notification or an empty window.
func (d *Dispatcher) quietHoursOf(n *Notification, category string, c *Contact) *QuietHours {
	if n.Critical {
		return nil
	}
	q := d.policy(category).QuietHours
	if c.QuietHours != nil {
		q = *c.QuietHours
	}
	if q.IsZero() {
		return nil
	}
	// A new value, not &q: that would move q to the heap at every call,
	// even the (usual) ones that return nil.
	out := new(QuietHours)
	*out = q
	return out
}

// maxZones bounds the time zones a Dispatcher keeps loaded.
const maxZones = 512

// zoneCache keeps the time zones quiet hours are read in, by name, so a
// delivery does not read the zone database: time.LoadLocation reads it
// at every call. Unknown names are kept too (as nil). At most maxZones
// names are kept; others are loaded at every use.
type zoneCache struct {
	mu sync.Mutex
	m  map[string]*time.Location
}

// load returns the time zone called name, or nil when there is none.
func (z *zoneCache) load(name string) *time.Location {
	z.mu.Lock()
	loc, ok := z.m[name]
	z.mu.Unlock()
	if ok {
		return loc
	}
	loc, err := time.LoadLocation(name)
	if err != nil {
		loc = nil
	}
	z.mu.Lock()
	if z.m == nil {
		z.m = make(map[string]*time.Location)
	}
	if len(z.m) < maxZones {
		z.m[name] = loc
	}
	z.mu.Unlock()
	return loc
}

// zoneOf is the time zone del's quiet hours are read in: its TimeZone, or
// Config.DefaultTimeZone when that is empty or, reported by known false,
// unknown here.
func (d *Dispatcher) zoneOf(del *Delivery) (loc *time.Location, known bool) {
	if del.TimeZone == "" {
		return d.cfg.DefaultTimeZone, true
	}
	if loc := d.zones.load(del.TimeZone); loc != nil {
		return loc, true
	}
	return d.cfg.DefaultTimeZone, false
}

// quietUntil reports whether del is within its quiet hours at now and, if
// so, the instant they end; known is false when del's TimeZone is unknown
// here (Config.DefaultTimeZone stood in for it).
func (d *Dispatcher) quietUntil(del *Delivery, now time.Time) (end time.Time, quiet, known bool) {
	if del.QuietHours == nil || del.Critical || del.QuietHours.IsZero() {
		return time.Time{}, false, true
	}
	loc, known := d.zoneOf(del)
	end, quiet = del.QuietHours.Until(now.In(loc))
	return end, quiet, known
}

// outsideQuietHours defers a delivery that is within its user's quiet
// hours to their end: it logs it deferred (ReasonQuietHours) and returns
// its lease to the queue until then. That is not an attempt, and the rate
// limiter is not asked (withinLimit runs after). A delivery that would
// expire by then is settled as expired at once. It reports whether the
// send goes on.
func (e *execution) outsideQuietHours(now time.Time, attempts int) bool {
	d, del := e.p.d, e.del
	end, quiet, known := d.quietUntil(del, now)
	if !known {
		d.log.WarnContext(e.bc.parent(), "notify: unknown time zone; reading quiet hours in Config.DefaultTimeZone (fix the contact's TimeZone)",
			slog.String("delivery", del.ID), slog.String("user", del.UserID), slog.String("time_zone", clip(del.TimeZone)))
	}
	if !quiet {
		return true
	}
	if !del.ExpiresAt.IsZero() && !end.Before(del.ExpiresAt) {
		e.settle(Event{Status: StatusExpired, Reason: ReasonExpired, Attempt: attempts})
		return false
	}
	d.record(e.bc.get(), del, Event{Status: StatusDeferred, Reason: ReasonQuietHours})
	d.nack(e.bc.get(), e.l, end.Sub(now))
	return false
}

// inQuietHours reports whether del is within its quiet hours at now.
func (d *Dispatcher) inQuietHours(del *Delivery, now time.Time) bool {
	_, quiet, _ := d.quietUntil(del, now)
	return quiet
}
