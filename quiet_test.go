package notify_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gonotify/notify"
)

func zone(t testing.TB, name string) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation(name)
	require.NoError(t, err)
	return loc
}

func mustQuiet(t testing.TB, s string) notify.QuietHours {
	t.Helper()
	q, err := notify.ParseQuietHours(s)
	require.NoError(t, err)
	return q
}

func TestParseClock(t *testing.T) {
	for in, want := range map[string]notify.Clock{
		"00:00": 0, "07:00": 420, "7:05": 425, "22:30": 1350, "23:59": 1439,
	} {
		got, err := notify.ParseClock(in)
		require.NoError(t, err, in)
		assert.Equal(t, want, got, in)
	}
	for _, in := range []string{"", "24:00", "12:60", "12", "12:5", "012:00", "12:000", "-1:00", "ab:cd", "12:0x", " 12:00", "1:2:3"} {
		_, err := notify.ParseClock(in)
		assert.Error(t, err, "%q", in)
	}
	assert.Equal(t, notify.Clock(1350), notify.ClockAt(22, 30))
	assert.False(t, notify.ClockAt(24, 0).Valid())
	assert.False(t, notify.ClockAt(1, 60).Valid())
}

func TestParseQuietHours(t *testing.T) {
	q := mustQuiet(t, "22:00-07:00")
	assert.Equal(t, notify.QuietHours{Start: notify.ClockAt(22, 0), End: notify.ClockAt(7, 0)}, q)
	assert.Equal(t, "22:00-07:00", q.String())
	assert.Equal(t, q, mustQuiet(t, "22:00 - 07:00"))
	none := mustQuiet(t, "none")
	assert.True(t, none.IsZero())
	assert.Equal(t, "none", none.String())
	assert.True(t, mustQuiet(t, "08:00-08:00").IsZero(), "a window that ends where it starts is empty")
	for _, in := range []string{"", "22:00", "22:00-", "-07:00", "22:00-07:00-08:00", "25:00-07:00", "off"} {
		_, err := notify.ParseQuietHours(in)
		assert.Error(t, err, "%q", in)
	}
}

func TestQuietHoursJSON(t *testing.T) {
	c := notify.Contact{UserID: "u", TimeZone: "America/New_York", QuietHours: &notify.QuietHours{Start: notify.ClockAt(22, 0), End: notify.ClockAt(7, 0)}}
	b, err := json.Marshal(c)
	require.NoError(t, err)
	assert.JSONEq(t, `{"user_id":"u","time_zone":"America/New_York","quiet_hours":"22:00-07:00"}`, string(b))
	var back notify.Contact
	require.NoError(t, json.Unmarshal(b, &back))
	assert.Equal(t, c, back)

	require.NoError(t, json.Unmarshal([]byte(`{"user_id":"u","quiet_hours":"none"}`), &back))
	require.NotNil(t, back.QuietHours, `"none" is set, and empty: distinct from unset`)
	assert.True(t, back.QuietHours.IsZero())
	assert.Error(t, json.Unmarshal([]byte(`{"quiet_hours":"22:00-7"}`), &back))

	_, err = json.Marshal(notify.QuietHours{Start: 1440})
	assert.Error(t, err, "an invalid Clock does not marshal")
}

func TestQuietHoursContains(t *testing.T) {
	night := mustQuiet(t, "22:00-07:00")
	day := mustQuiet(t, "13:00-15:30")
	at := func(h, m int) time.Time { return time.Date(2024, 6, 1, h, m, 0, 0, time.UTC) }
	for _, c := range []struct {
		q    notify.QuietHours
		t    time.Time
		want bool
	}{
		{night, at(21, 59), false}, {night, at(22, 0), true}, {night, at(23, 59), true}, {night, at(0, 0), true},
		{night, at(6, 59), true}, {night, at(7, 0), false}, {night, at(12, 0), false},
		{day, at(12, 59), false}, {day, at(13, 0), true}, {day, at(15, 29), true}, {day, at(15, 30), false},
		{notify.QuietHours{}, at(0, 0), false}, {mustQuiet(t, "05:00-05:00"), at(5, 0), false},
	} {
		assert.Equal(t, c.want, c.q.Contains(c.t), "%s at %s", c.q, c.t.Format("15:04"))
	}
}

// TestQuietHoursUntil checks the end of the window that holds an instant,
// across zones and daylight-saving changes.
func TestQuietHoursUntil(t *testing.T) {
	ny, lisbon, sydney := zone(t, "America/New_York"), zone(t, "Europe/Lisbon"), zone(t, "Australia/Sydney")
	kolkata, lordHowe, santiago := zone(t, "Asia/Kolkata"), zone(t, "Australia/Lord_Howe"), zone(t, "America/Santiago")
	for _, c := range []struct {
		name   string
		window string
		at     time.Time
		want   time.Time // zero: not within the window
	}{
		{"evening before midnight", "22:00-07:00", time.Date(2024, 6, 1, 22, 30, 0, 0, ny), time.Date(2024, 6, 2, 7, 0, 0, 0, ny)},
		{"after midnight", "22:00-07:00", time.Date(2024, 6, 2, 3, 0, 0, 0, ny), time.Date(2024, 6, 2, 7, 0, 0, 0, ny)},
		{"seconds count", "22:00-07:00", time.Date(2024, 6, 2, 6, 59, 59, 500, ny), time.Date(2024, 6, 2, 7, 0, 0, 0, ny)},
		{"at the end", "22:00-07:00", time.Date(2024, 6, 2, 7, 0, 0, 0, ny), time.Time{}},
		{"outside", "22:00-07:00", time.Date(2024, 6, 2, 12, 0, 0, 0, ny), time.Time{}},
		{"within one day", "13:00-15:00", time.Date(2024, 6, 2, 13, 0, 0, 0, ny), time.Date(2024, 6, 2, 15, 0, 0, 0, ny)},
		{"empty", "none", time.Date(2024, 6, 2, 3, 0, 0, 0, ny), time.Time{}},

		// New York springs forward on 2024-03-10 (02:00 EST becomes 03:00
		// EDT): the night is an hour shorter, and 02:30 never happens.
		{"spring forward", "22:00-07:00", time.Date(2024, 3, 9, 22, 30, 0, 0, ny), time.Date(2024, 3, 10, 7, 0, 0, 0, ny)},
		{"end skipped", "22:00-02:30", time.Date(2024, 3, 9, 23, 0, 0, 0, ny), time.Date(2024, 3, 10, 7, 0, 0, 0, time.UTC)},
		{"start skipped", "02:30-06:00", time.Date(2024, 3, 10, 3, 15, 0, 0, ny), time.Date(2024, 3, 10, 6, 0, 0, 0, ny)},
		{"jump within the window", "01:00-04:00", time.Date(2024, 3, 10, 1, 30, 0, 0, ny), time.Date(2024, 3, 10, 4, 0, 0, 0, ny)},
		// It falls back on 2024-11-03 (02:00 EDT becomes 01:00 EST): the
		// night is an hour longer, and 01:30 happens twice.
		{"fall back", "22:00-07:00", time.Date(2024, 11, 2, 22, 30, 0, 0, ny), time.Date(2024, 11, 3, 7, 0, 0, 0, ny)},
		{"end repeated, first pass", "22:00-01:30", time.Date(2024, 11, 2, 23, 0, 0, 0, ny), time.Date(2024, 11, 3, 5, 30, 0, 0, time.UTC)},
		{"end repeated, second pass", "22:00-01:30", time.Date(2024, 11, 3, 6, 10, 0, 0, time.UTC).In(ny), time.Date(2024, 11, 3, 6, 30, 0, 0, time.UTC)},
		{"end at the change", "22:00-02:00", time.Date(2024, 11, 2, 22, 10, 7, 0, ny), time.Date(2024, 11, 3, 2, 0, 0, 0, ny)},
		{"spring forward at the end", "22:00-02:00", time.Date(2024, 3, 9, 22, 10, 0, 0, ny), time.Date(2024, 3, 10, 3, 0, 0, 0, ny)},
		{"clock falls back out of the window", "01:30-03:00", time.Date(2024, 11, 3, 5, 45, 0, 0, time.UTC).In(ny), time.Date(2024, 11, 3, 6, 0, 0, 0, time.UTC)},

		// Lisbon springs forward at 01:00 UTC on 2024-03-31 (01:00 WET
		// becomes 02:00 WEST).
		{"Lisbon spring forward", "23:00-08:00", time.Date(2024, 3, 30, 23, 30, 0, 0, lisbon), time.Date(2024, 3, 31, 8, 0, 0, 0, lisbon)},
		{"Lisbon end skipped", "23:00-01:15", time.Date(2024, 3, 30, 23, 30, 0, 0, lisbon), time.Date(2024, 3, 31, 1, 0, 0, 0, time.UTC)},
		// Sydney falls back on 2024-04-07 (03:00 AEDT becomes 02:00 AEST)
		// and springs forward on 2024-10-06 (02:00 AEST becomes 03:00 AEDT).
		{"Sydney fall back", "22:00-07:00", time.Date(2024, 4, 6, 22, 0, 0, 0, sydney), time.Date(2024, 4, 7, 7, 0, 0, 0, sydney)},
		{"Sydney spring forward", "22:00-07:00", time.Date(2024, 10, 5, 23, 0, 0, 0, sydney), time.Date(2024, 10, 6, 7, 0, 0, 0, sydney)},
		// Kolkata: no daylight saving, a half-hour offset.
		{"Kolkata", "21:30-06:45", time.Date(2024, 3, 10, 21, 30, 0, 0, kolkata), time.Date(2024, 3, 11, 6, 45, 0, 0, kolkata)},
		// Lord Howe moves its clocks by half an hour: on 2024-10-06 02:00
		// becomes 02:30.
		{"Lord Howe half-hour jump", "22:00-02:15", time.Date(2024, 10, 5, 23, 0, 0, 0, lordHowe), time.Date(2024, 10, 5, 15, 30, 0, 0, time.UTC)},
		// Santiago springs forward at midnight: on 2024-09-08 00:00 -04
		// becomes 01:00 -03, so that day has no 00:30.
		{"Santiago midnight jump", "22:00-00:30", time.Date(2024, 9, 7, 23, 0, 0, 0, santiago), time.Date(2024, 9, 8, 4, 0, 0, 0, time.UTC)},
	} {
		t.Run(c.name, func(t *testing.T) {
			q := mustQuiet(t, c.window)
			got, quiet := q.Until(c.at)
			if c.want.IsZero() {
				assert.False(t, quiet, "within the window")
				assert.True(t, got.Equal(c.at))
				return
			}
			require.True(t, quiet, "not within the window")
			assert.True(t, got.Equal(c.want), "until %s, want %s", got, c.want.In(c.at.Location()))
			assert.False(t, q.Contains(got), "the window still holds its end %s", got)
			assert.True(t, q.Contains(got.Add(-time.Nanosecond)), "the window ended before %s", got)
		})
	}
}

func FuzzParseClock(f *testing.F) {
	for _, s := range []string{"00:00", "7:00", "23:59", "24:00", "12:60", "", ":", "1:1", "99:99"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		c, err := notify.ParseClock(s)
		if err != nil {
			assert.Less(t, len(err.Error()), 300, "the error quotes the input clipped")
			return
		}
		require.True(t, c.Valid(), "%q parsed to %d", s, int(c))
		again, err := notify.ParseClock(c.String())
		require.NoError(t, err)
		require.Equal(t, c, again)
	})
}

func FuzzParseQuietHours(f *testing.F) {
	for _, s := range []string{"22:00-07:00", "none", "08:00-08:00", "0:00 - 23:59", "-", "22:00-", "25:00-07:00"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		q, err := notify.ParseQuietHours(s)
		if err != nil {
			return
		}
		require.True(t, q.Start.Valid() && q.End.Valid())
		b, err := q.MarshalText()
		require.NoError(t, err)
		var back notify.QuietHours
		require.NoError(t, back.UnmarshalText(b))
		require.Equal(t, q.IsZero(), back.IsZero())
		if !q.IsZero() {
			require.Equal(t, q, back)
		}
	})
}

// FuzzQuietHoursUntil checks, for any instant, window and zone, that the
// window holds every instant up to the end Until returns and not the end.
func FuzzQuietHoursUntil(f *testing.F) {
	zones := []string{"UTC", "America/New_York", "Europe/Lisbon", "Australia/Sydney", "Australia/Lord_Howe", "America/Santiago", "Asia/Kolkata", "Pacific/Apia"}
	locs := make([]*time.Location, len(zones))
	for i, z := range zones {
		locs[i] = zone(f, z)
	}
	f.Add(int64(1710025200), uint16(1320), uint16(150), uint8(1))
	f.Add(int64(1730599800), uint16(1320), uint16(90), uint8(1))
	f.Add(int64(1325239200), uint16(60), uint16(300), uint8(7))
	f.Fuzz(func(t *testing.T, unix int64, start, end uint16, z uint8) {
		q := notify.QuietHours{Start: notify.Clock(start % 1440), End: notify.Clock(end % 1440)}
		now := time.Unix(unix%(1<<33), 0).In(locs[int(z)%len(locs)])
		got, quiet := q.Until(now)
		if !quiet {
			require.False(t, q.Contains(now))
			return
		}
		require.True(t, got.After(now), "ends at %s, not after %s", got, now)
		require.LessOrEqual(t, got.Sub(now), 26*time.Hour, "from %s to %s", now, got)
		require.False(t, q.Contains(got), "%s holds its end %s (from %s)", q, got, now)
		// Every minute before the end is within the window.
		for at := now; at.Before(got); at = at.Add(time.Minute) {
			require.True(t, q.Contains(at), "%s does not hold %s, before its end %s (from %s)", q, at, got, now)
		}
		require.True(t, q.Contains(got.Add(-time.Nanosecond)))
	})
}
