package main

import (
	"bytes"
	"regexp"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestQuickstart runs the demo and checks the story it tells.
func TestQuickstart(t *testing.T) {
	var out bytes.Buffer
	require.NoError(t, run(t.Context(), &out))
	s := out.String()
	count := func(pattern string) int { return len(regexp.MustCompile(pattern).FindAllString(s, -1)) }
	assert.Contains(t, s, "duplicate of notification")
	assert.Equal(t, 1, count(`(?m)^…\w+\s+sms\s+\S+\s+skipped\s+0\s+opted_out`), s)
	assert.Equal(t, 2, count(`(?m)\bfcm\s+\S+\s+skipped\s+0\s+rate_limited`), s)
	assert.Equal(t, 1, count(`(?m)\bapns\s+f00dfeed…\s+sent\s+3\b`), s)
	assert.Equal(t, 1, count(`(?m)\bsms\s+\+15550000000\s+failed\s+1\b`), s)
	assert.Equal(t, 1, count(`(?m)\bemail\s+down@exa…\s+dead\s+3\b`), s)
	assert.Contains(t, s, `moved from "ana"`, "the device registry moves the token to Eve")
	assert.Equal(t, 2, count(`(?m)\bapns\s+a1b2c3d4…\s+sent\s+1\s*$`), "the token got Ana's push, then (moved) Eve's")
	assert.Equal(t, 1, count(`(?m)\bfcm\s+\S+\s+deferred\s+0\s+quiet_hours`), s)
	assert.Equal(t, 2, count(`(?m)\s+canceled\s+0\s+canceled`), s)
	assert.Equal(t, 4+1+3+1+1+1, count(`(?m)\s+sent\s+\d`), "sent deliveries: Ana's 4, Bob's email, 3 chats, Cho's push, Eve's push, Fay's alert")
	assert.Contains(t, s, "Pedido #1042 enviado", "Ana's locale pt-BR falls back to pt")
}
