// Package keyring checks the HMAC keys that sign links (package track's
// and package unsubscribe's Config.Keys). Both follow one rotation rule:
// Keys[0] signs and every key verifies, so a new key goes first and an
// old one stays after it as long as links it signed must keep working.
package keyring

import (
	"errors"
	"fmt"
	"slices"
)

// MinBytes is the shortest key Check accepts. 32 random bytes are
// recommended.
const MinBytes = 16

// Max bounds how many keys Check accepts: every key may be tried on every
// link.
const Max = 8

// Check checks keys, given as Config.Keys, and returns a copy of them (the
// caller's slices may change later): 1 to Max keys, each at least MinBytes
// long. Its errors name Config.Keys and carry no package prefix; callers
// add theirs ("track: ").
func Check(keys [][]byte) ([][]byte, error) {
	switch {
	case len(keys) == 0:
		return nil, errors.New("Config.Keys is empty: give at least one key of 32 random bytes (openssl rand -base64 32)")
	case len(keys) > Max:
		return nil, fmt.Errorf("Config.Keys has %d keys; at most %d (remove keys whose links no longer need to work)", len(keys), Max)
	}
	out := make([][]byte, len(keys))
	for i, k := range keys {
		if len(k) < MinBytes {
			return nil, fmt.Errorf("Config.Keys[%d] is %d bytes; at least %d (32 random bytes recommended)", i, len(k), MinBytes)
		}
		out[i] = slices.Clone(k)
	}
	return out, nil
}
