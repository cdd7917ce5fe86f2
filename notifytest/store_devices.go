package notifytest

import (
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gonotify/notify"
)

// deviceRegistry returns s's notify.DeviceRegistry, or skips t.
func deviceRegistry(t *testing.T, s notify.Store) notify.DeviceRegistry {
	t.Helper()
	r, ok := notify.As[notify.DeviceRegistry](s)
	if !ok {
		t.Skip("the store is not a notify.DeviceRegistry")
	}
	return r
}

// tokens lists c's devices as "platform/token", in order.
func tokens(c notify.Contact) []string {
	out := make([]string, 0, len(c.Devices))
	for _, d := range c.Devices {
		out = append(out, d.Platform+"/"+d.Token)
	}
	return out
}

// contactOrEmpty returns the user's contact, or an empty one when the
// store has none.
func contactOrEmpty(t *testing.T, s notify.Store, user string) notify.Contact {
	t.Helper()
	c, err := s.Contact(timeout(t, 10*time.Second), user)
	if err != nil {
		require.ErrorIs(t, err, notify.ErrNotFound)
		return notify.Contact{UserID: user}
	}
	return c
}

// testDeviceRegister checks RegisterDevice and UnregisterDevice on one
// user: a contact created for a new user, a device added after the
// others, a registration of a known token updating it in place, and the
// rest of the contact left alone.
func testDeviceRegister(t *testing.T, s notify.Store, id string) {
	r := deviceRegistry(t, s)
	ctx := timeout(t, 20*time.Second)

	// A user without a contact gets one.
	fresh := id + "-new"
	d0 := notify.Device{Platform: "fcm", Token: id + "-f0", App: "com.example.android", Locale: "de", RegisteredAt: at(0), LastSeen: at(time.Minute)}
	reg, err := r.RegisterDevice(ctx, fresh, d0)
	require.NoError(t, err)
	assert.True(t, reg.Created, "a new device")
	assert.Empty(t, reg.MovedFrom, "nobody held the token")
	assertContact(t, notify.Contact{UserID: fresh, Devices: []notify.Device{d0}}, contactOrEmpty(t, s, fresh))

	c := notify.Contact{UserID: id, Phone: "+15550103", Email: "cy@example.com", Locale: "fr", TimeZone: "Europe/Paris",
		QuietHours: &notify.QuietHours{Start: notify.ClockAt(23, 0), End: notify.ClockAt(6, 30)},
		Devices:    []notify.Device{{Platform: "apns", Token: id + "-a0", RegisteredAt: at(0)}}}
	require.NoError(t, s.PutContact(ctx, c))

	// A zero RegisteredAt and LastSeen are set to the time of the call.
	before := time.Now().Add(-time.Second)
	reg, err = r.RegisterDevice(ctx, id, notify.Device{Platform: "apns", Token: id + "-a1", App: "com.example.ios"})
	require.NoError(t, err)
	after := time.Now().Add(time.Second)
	assert.True(t, reg.Created)
	for name, v := range map[string]time.Time{"RegisteredAt": reg.Device.RegisteredAt, "LastSeen": reg.Device.LastSeen} {
		assert.True(t, v.After(before) && v.Before(after), "%s of a device registered without it: %v, want about now", name, v)
	}
	got := contactOrEmpty(t, s, id)
	want := c
	want.Devices = append(slices.Clone(c.Devices), reg.Device)
	assertContact(t, want, got)

	// Registering the first token again updates it in place.
	again := notify.Device{Platform: "apns", Token: id + "-a0", App: "com.example.ios", Locale: "fr-CA", RegisteredAt: at(3 * time.Hour), LastSeen: at(4 * time.Hour)}
	reg, err = r.RegisterDevice(ctx, id, again)
	require.NoError(t, err)
	assert.False(t, reg.Created, "the user had the token: refreshed, not created")
	assert.Empty(t, reg.MovedFrom, "the user held the token themselves")
	want.Devices[0] = again
	assertContact(t, want, contactOrEmpty(t, s, id))

	// The same token on another platform is another device.
	other := notify.Device{Platform: "fcm", Token: id + "-a0", RegisteredAt: at(time.Hour), LastSeen: at(time.Hour)}
	_, err = r.RegisterDevice(ctx, id, other)
	require.NoError(t, err)
	want.Devices = append(want.Devices, other)
	assertContact(t, want, contactOrEmpty(t, s, id))

	// Unregistering removes that device only.
	require.NoError(t, r.UnregisterDevice(ctx, id, "apns", id+"-a0"))
	want.Devices = want.Devices[1:]
	assertContact(t, want, contactOrEmpty(t, s, id))
	require.NoError(t, r.UnregisterDevice(ctx, id, "apns", id+"-never"), "unregistering a token the user lacks")
	require.NoError(t, r.UnregisterDevice(ctx, id+"-nobody", "apns", id+"-a1"), "unregistering for an unknown user")
	assertContact(t, want, contactOrEmpty(t, s, id))

	// An unregistered token is free: registering it elsewhere moves nothing.
	reg, err = r.RegisterDevice(ctx, fresh, notify.Device{Platform: "apns", Token: id + "-a0", RegisteredAt: at(0), LastSeen: at(0)})
	require.NoError(t, err)
	assert.Empty(t, reg.MovedFrom, "the token was unregistered")
}

// testDeviceMove checks that a token has one owner: registering, putting
// or refreshing to a token another user holds takes it from them.
func testDeviceMove(t *testing.T, s notify.Store, id string) {
	r := deviceRegistry(t, s)
	ctx := timeout(t, 20*time.Second)
	ana, bo := id+"-ana", id+"-bo"
	shared := notify.Device{Platform: "apns", Token: id + "-shared", RegisteredAt: at(0), LastSeen: at(0)}
	mine := notify.Device{Platform: "fcm", Token: id + "-ana-own", RegisteredAt: at(0), LastSeen: at(0)}
	require.NoError(t, s.PutContact(ctx, notify.Contact{UserID: ana, Email: "ana@example.com", Devices: []notify.Device{shared, mine}}))

	// Bo registers Ana's token (a phone changed hands): it moves.
	moved := shared
	moved.LastSeen, moved.RegisteredAt = at(time.Hour), at(time.Hour)
	reg, err := r.RegisterDevice(ctx, bo, moved)
	require.NoError(t, err)
	assert.Equal(t, ana, reg.MovedFrom, "MovedFrom names the previous owner")
	assert.True(t, reg.Created, "new to Bo")
	assertContact(t, notify.Contact{UserID: ana, Email: "ana@example.com", Devices: []notify.Device{mine}}, contactOrEmpty(t, s, ana))
	assertContact(t, notify.Contact{UserID: bo, Devices: []notify.Device{moved}}, contactOrEmpty(t, s, bo))

	// PutContact takes the token back.
	require.NoError(t, s.PutContact(ctx, notify.Contact{UserID: ana, Email: "ana@example.com", Devices: []notify.Device{mine, shared}}))
	assert.Equal(t, []string{"fcm/" + mine.Token, "apns/" + shared.Token}, tokens(contactOrEmpty(t, s, ana)))
	assert.Empty(t, tokens(contactOrEmpty(t, s, bo)), "PutContact took the token from its other owner")
	reg, err = r.RegisterDevice(ctx, bo, moved)
	require.NoError(t, err)
	assert.Equal(t, ana, reg.MovedFrom, "the owner PutContact made")

	// A token listed twice by PutContact is kept once.
	dup := notify.Device{Platform: "fcm", Token: id + "-dup", RegisteredAt: at(0)}
	require.NoError(t, s.PutContact(ctx, notify.Contact{UserID: ana, Devices: []notify.Device{dup, mine, dup}}))
	assert.Equal(t, []string{"fcm/" + dup.Token, "fcm/" + mine.Token}, tokens(contactOrEmpty(t, s, ana)), "a duplicate token kept once, in its first place")

	// Refreshing to a token another user holds moves it too.
	_, err = r.RegisterDevice(ctx, bo, notify.Device{Platform: "fcm", Token: id + "-bo-f", RegisteredAt: at(0), LastSeen: at(0)})
	require.NoError(t, err)
	require.NoError(t, r.RefreshDevice(ctx, ana, "fcm", mine.Token, id+"-bo-f"))
	assert.Equal(t, []string{"apns/" + shared.Token}, tokens(contactOrEmpty(t, s, bo)), "RefreshDevice took the new token from its other owner")
	assert.Equal(t, []string{"fcm/" + dup.Token, "fcm/" + id + "-bo-f"}, tokens(contactOrEmpty(t, s, ana)))
}

// testDeviceRefresh checks RefreshDevice: the old token replaced in place
// by the new, keeping App and Locale and stamping the time; an unknown
// old token registering the new one.
func testDeviceRefresh(t *testing.T, s notify.Store, id string) {
	r := deviceRegistry(t, s)
	ctx := timeout(t, 20*time.Second)
	first := notify.Device{Platform: "fcm", Token: id + "-first", App: "com.example.android", Locale: "es", RegisteredAt: at(0), LastSeen: at(0)}
	old := notify.Device{Platform: "fcm", Token: id + "-old", App: "com.example.android", Locale: "es-MX", RegisteredAt: at(0), LastSeen: at(0)}
	last := notify.Device{Platform: "apns", Token: id + "-last", RegisteredAt: at(0), LastSeen: at(0)}
	c := notify.Contact{UserID: id, Phone: "+15550104", Devices: []notify.Device{first, old, last}}
	require.NoError(t, s.PutContact(ctx, c))

	before := time.Now().Add(-time.Second)
	require.NoError(t, r.RefreshDevice(ctx, id, "fcm", old.Token, id+"-new"))
	after := time.Now().Add(time.Second)
	got := contactOrEmpty(t, s, id)
	require.Equal(t, []string{"fcm/" + first.Token, "fcm/" + id + "-new", "apns/" + last.Token}, tokens(got), "the new token in the old one's place")
	assert.Equal(t, "+15550104", got.Phone, "the rest of the contact survives RefreshDevice")
	n := got.Devices[1]
	assert.Equal(t, old.App, n.App, "App kept")
	assert.Equal(t, old.Locale, n.Locale, "Locale kept")
	assert.True(t, n.LastSeen.After(before) && n.LastSeen.Before(after), "LastSeen of a refreshed token: %v, want about now", n.LastSeen)
	assert.True(t, n.RegisteredAt.After(before) && n.RegisteredAt.Before(after), "RegisteredAt of a refreshed token: %v, want about now", n.RegisteredAt)
	assertContact(t, notify.Contact{UserID: id, Phone: c.Phone, Devices: []notify.Device{first, n, last}}, got)

	// The old token is free now.
	reg, err := r.RegisterDevice(ctx, id+"-other", old)
	require.NoError(t, err)
	assert.Empty(t, reg.MovedFrom, "the old token was released by RefreshDevice")

	// Refreshing a token the user lacks registers the new one.
	require.NoError(t, r.RefreshDevice(ctx, id, "apns", id+"-unknown", id+"-newer"))
	assert.Equal(t, []string{"fcm/" + first.Token, "fcm/" + id + "-new", "apns/" + last.Token, "apns/" + id + "-newer"}, tokens(contactOrEmpty(t, s, id)))

	// Refreshing onto a token the user already has leaves one device.
	require.NoError(t, r.RefreshDevice(ctx, id, "fcm", first.Token, id+"-new"))
	assert.Equal(t, []string{"fcm/" + id + "-new", "apns/" + last.Token, "apns/" + id + "-newer"}, tokens(contactOrEmpty(t, s, id)))
}

// testDeviceConcurrent registers 50 devices of one user at once (all are
// kept), and each of several tokens by two users at once (exactly one
// owner, and exactly one of the two registrations says it moved the token
// from the other).
func testDeviceConcurrent(t *testing.T, s notify.Store, id string) {
	r := deviceRegistry(t, s)
	ctx := timeout(t, 60*time.Second)
	require.NoError(t, s.PutContact(ctx, notify.Contact{UserID: id, Email: "many@example.com"}))
	const many = 50
	var wg sync.WaitGroup
	errs := make([]error, many)
	for i := range many {
		wg.Go(func() {
			_, errs[i] = r.RegisterDevice(ctx, id, notify.Device{Platform: "fcm", Token: fmt.Sprintf("%s-%02d", id, i), RegisteredAt: at(0), LastSeen: at(0)})
		})
	}
	wg.Wait()
	for i, err := range errs {
		require.NoError(t, err, "registration %d", i)
	}
	got := contactOrEmpty(t, s, id)
	assert.Equal(t, "many@example.com", got.Email, "concurrent registrations keep the rest of the contact")
	toks := tokens(got)
	slices.Sort(toks)
	want := make([]string, many)
	for i := range many {
		want[i] = fmt.Sprintf("fcm/%s-%02d", id, i)
	}
	assert.Equal(t, want, toks, "every one of %d concurrent registrations is kept", many)

	for round := range 5 {
		tok := fmt.Sprintf("%s-race%d", id, round)
		users := [2]string{fmt.Sprintf("%s-u%d-a", id, round), fmt.Sprintf("%s-u%d-b", id, round)}
		var regs [2]notify.DeviceRegistration
		var errs [2]error
		for i := range 2 {
			wg.Go(func() {
				regs[i], errs[i] = r.RegisterDevice(ctx, users[i], notify.Device{Platform: "apns", Token: tok, RegisteredAt: at(0), LastSeen: at(0)})
			})
		}
		wg.Wait()
		require.NoError(t, errs[0], "round %d", round)
		require.NoError(t, errs[1], "round %d", round)
		var owners []string
		for _, u := range users {
			if slices.Contains(tokens(contactOrEmpty(t, s, u)), "apns/"+tok) {
				owners = append(owners, u)
			}
		}
		require.Len(t, owners, 1, "round %d: two users registered one token at once: exactly one owns it", round)
		loser := users[0]
		if owners[0] == users[0] {
			loser = users[1]
		}
		winner := slices.Index(users[:], owners[0])
		assert.Equal(t, loser, regs[winner].MovedFrom, "round %d: the last registration moved the token from the first", round)
		assert.Empty(t, regs[1-winner].MovedFrom, "round %d: the first registration moved nothing", round)
	}
}

// testDevicePrune checks PruneDevices: it removes exactly the devices,
// of every user, last seen (or, without LastSeen, registered) before the
// given time, and keeps those with neither time. It runs alone: the
// times it uses are decades before any other subtest's.
func testDevicePrune(t *testing.T, s notify.Store, id string) {
	r := deviceRegistry(t, s)
	ctx := timeout(t, 30*time.Second)
	year := func(y int) time.Time { return time.Date(y, 1, 2, 3, 4, 5, 0, time.UTC) }
	cut := year(2000)
	_, err := r.PruneDevices(ctx, cut) // what earlier runs left
	require.NoError(t, err)

	u1, u2 := id+"-1", id+"-2"
	stale1 := notify.Device{Platform: "fcm", Token: id + "-stale1", RegisteredAt: year(1985), LastSeen: year(1990)}
	seen := notify.Device{Platform: "fcm", Token: id + "-seen", RegisteredAt: year(1985), LastSeen: year(2010)}
	stale2 := notify.Device{Platform: "apns", Token: id + "-stale2", RegisteredAt: year(1991)} // no LastSeen: RegisteredAt counts
	unknown := notify.Device{Platform: "apns", Token: id + "-unknown"}                         // no time at all: kept
	require.NoError(t, s.PutContact(ctx, notify.Contact{UserID: u1, Phone: "+15550105", Devices: []notify.Device{stale1, seen, stale2}}))
	require.NoError(t, s.PutContact(ctx, notify.Contact{UserID: u2, Devices: []notify.Device{unknown}}))
	_, err = r.RegisterDevice(ctx, u2, notify.Device{Platform: "apns", Token: id + "-old-reg", RegisteredAt: year(1980), LastSeen: year(1999)})
	require.NoError(t, err)

	n, err := r.PruneDevices(ctx, cut)
	require.NoError(t, err)
	assert.EqualValues(t, 3, n, "PruneDevices counts the devices it removed")
	assertContact(t, notify.Contact{UserID: u1, Phone: "+15550105", Devices: []notify.Device{seen}}, contactOrEmpty(t, s, u1))
	assertContact(t, notify.Contact{UserID: u2, Devices: []notify.Device{unknown}}, contactOrEmpty(t, s, u2))

	n, err = r.PruneDevices(ctx, cut)
	require.NoError(t, err)
	assert.Zero(t, n, "a second PruneDevices finds nothing")

	// A pruned token is free.
	reg, err := r.RegisterDevice(ctx, id+"-3", stale1)
	require.NoError(t, err)
	assert.Empty(t, reg.MovedFrom, "a pruned token has no owner")
}
