package notify

import (
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestNewIDIsAnIncreasingUUIDv7OfNow(t *testing.T) {
	var c idClock
	before := time.Now().Truncate(time.Millisecond)
	prev := ""
	for range 10_000 {
		id := c.newID()
		u, err := uuid.Parse(id)
		require.NoError(t, err)
		require.Equal(t, uuid.Version(7), u.Version())
		require.Equal(t, uuid.RFC4122, u.Variant())
		require.Equal(t, u.String(), id, "canonical form")
		require.Greater(t, id, prev, "each ID sorts after the one before")
		prev = id
	}
	age, ok := claimAge(prev, time.Now())
	require.True(t, ok)
	assert.LessOrEqual(t, age, time.Since(before))
	assert.GreaterOrEqual(t, age, time.Duration(0))
}
