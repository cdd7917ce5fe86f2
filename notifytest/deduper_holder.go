package notifytest

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gonotify/notify"
)

// testClaimHolder checks a notify.ClaimHolder: Holder answers the owner of a
// held key, ErrNotFound for a free, released or expired one, and claims
// nothing (a later Claim of a free key wins).
func testClaimHolder(t *testing.T, d notify.Deduper, key string) {
	ch, ok := notify.As[notify.ClaimHolder](d)
	if !ok {
		t.Skip("the deduper is not a notify.ClaimHolder")
	}
	ctx := timeout(t, 20*time.Second)

	_, err := ch.Holder(ctx, key)
	assert.ErrorIs(t, err, notify.ErrNotFound, "a key never claimed")
	ok, _ = claim(t, d, key, "n1", time.Hour)
	require.True(t, ok, "Holder must not have claimed the key")
	owner, err := ch.Holder(ctx, key)
	require.NoError(t, err)
	assert.Equal(t, "n1", owner)

	require.NoError(t, d.Release(ctx, key, "n1"))
	_, err = ch.Holder(ctx, key)
	assert.ErrorIs(t, err, notify.ErrNotFound, "a released key")

	short := key + "-short"
	ok, _ = claim(t, d, short, "n2", 200*time.Millisecond)
	require.True(t, ok)
	time.Sleep(400 * time.Millisecond)
	_, err = ch.Holder(ctx, short)
	assert.ErrorIs(t, err, notify.ErrNotFound, "an expired key")
}
