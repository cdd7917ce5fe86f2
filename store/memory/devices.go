package memory

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/gonotify/notify"
)

// deviceKey is one device token on one platform.
type deviceKey struct{ platform, token string }

// takeToken makes user the owner of k, removing the token from the
// contact of the user who held it, and returns that user ("" when none
// or user). s.mu is held.
func (s *Store) takeToken(user string, k deviceKey) string {
	prev, ok := s.owners[k]
	s.owners[k] = user
	if !ok || prev == user {
		return ""
	}
	if c, ok := s.contacts[prev]; ok {
		// A new slice: copies handed out earlier are not changed.
		c.Devices = slices.DeleteFunc(slices.Clone(c.Devices), func(d notify.Device) bool {
			return d.Platform == k.platform && d.Token == k.token
		})
		s.contacts[prev] = c
	}
	return prev
}

// RegisterDevice adds d to the user's contact, or updates the user's
// device with its token in place, taking the token from any other user
// who held it; see notify.DeviceRegistry.
func (s *Store) RegisterDevice(_ context.Context, userID string, d notify.Device) (notify.DeviceRegistration, error) {
	if userID == "" || d.Platform == "" || d.Token == "" {
		return notify.DeviceRegistration{}, fmt.Errorf("store/memory: register device: empty user ID, platform or token")
	}
	now := time.Now()
	if d.RegisteredAt.IsZero() {
		d.RegisteredAt = now
	}
	if d.LastSeen.IsZero() {
		d.LastSeen = now
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	moved := s.takeToken(userID, deviceKey{d.Platform, d.Token})
	c, ok := s.contacts[userID]
	if !ok {
		c = notify.Contact{UserID: userID}
	}
	c.Devices = slices.Clone(c.Devices)
	i := slices.IndexFunc(c.Devices, func(x notify.Device) bool { return x.Platform == d.Platform && x.Token == d.Token })
	if i >= 0 {
		c.Devices[i] = d
	} else {
		c.Devices = append(c.Devices, d)
	}
	s.contacts[userID] = c
	return notify.DeviceRegistration{Device: d, Created: i < 0, MovedFrom: moved}, nil
}

// UnregisterDevice removes the user's device with token on platform; see
// notify.DeviceRegistry.
func (s *Store) UnregisterDevice(_ context.Context, userID, platform, token string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.contacts[userID]
	if !ok {
		return nil
	}
	n := len(c.Devices)
	c.Devices = slices.DeleteFunc(slices.Clone(c.Devices), func(d notify.Device) bool {
		return d.Platform == platform && d.Token == token
	})
	if len(c.Devices) < n {
		delete(s.owners, deviceKey{platform, token})
		s.contacts[userID] = c
	}
	return nil
}

// RefreshDevice replaces the user's oldToken on platform with newToken;
// see notify.DeviceRegistry.
func (s *Store) RefreshDevice(_ context.Context, userID, platform, oldToken, newToken string) error {
	if userID == "" || platform == "" || oldToken == "" || newToken == "" {
		return fmt.Errorf("store/memory: refresh device: empty user ID, platform or token")
	}
	now := time.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.takeToken(userID, deviceKey{platform, newToken})
	c, ok := s.contacts[userID]
	if !ok {
		c = notify.Contact{UserID: userID}
	}
	c.Devices = slices.Clone(c.Devices)
	at := func(tok string) int {
		return slices.IndexFunc(c.Devices, func(x notify.Device) bool { return x.Platform == platform && x.Token == tok })
	}
	fresh := notify.Device{Platform: platform, Token: newToken, RegisteredAt: now, LastSeen: now}
	switch i, j := at(oldToken), at(newToken); {
	case i >= 0 && oldToken != newToken:
		fresh.App, fresh.Locale = c.Devices[i].App, c.Devices[i].Locale
		c.Devices[i] = fresh
		delete(s.owners, deviceKey{platform, oldToken})
		if j >= 0 {
			c.Devices = slices.Delete(c.Devices, j, j+1)
		}
	case j >= 0:
		fresh.App, fresh.Locale = c.Devices[j].App, c.Devices[j].Locale
		c.Devices[j] = fresh
	default:
		c.Devices = append(c.Devices, fresh)
	}
	s.contacts[userID] = c
	return nil
}

// PruneDevices removes every device last seen before notSeenSince; see
// notify.DeviceRegistry.
func (s *Store) PruneDevices(_ context.Context, notSeenSince time.Time) (int64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var n int64
	for user, c := range s.contacts {
		if !slices.ContainsFunc(c.Devices, func(d notify.Device) bool { return stale(d, notSeenSince) }) {
			continue
		}
		c.Devices = slices.DeleteFunc(slices.Clone(c.Devices), func(d notify.Device) bool {
			if !stale(d, notSeenSince) {
				return false
			}
			n++
			delete(s.owners, deviceKey{d.Platform, d.Token})
			return true
		})
		s.contacts[user] = c
	}
	return n, nil
}

// stale reports whether d was last seen before t: LastSeen, or
// RegisteredAt when LastSeen is unknown; never when both are.
func stale(d notify.Device, t time.Time) bool {
	seen := d.LastSeen
	if seen.IsZero() {
		seen = d.RegisteredAt
	}
	return !seen.IsZero() && seen.Before(t)
}
