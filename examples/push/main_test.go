package main

import (
	"bytes"
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestRunLocal(t *testing.T) {
	var out bytes.Buffer
	require.NoError(t, run(context.Background(), &out, func(string) string { return "" }))
	s := out.String()
	assert.Contains(t, s, "APNs: local server")
	assert.Contains(t, s, "FCM: local server")
	assert.Contains(t, s, "invalid_recipient")
	assert.Contains(t, s, "projects/local-project/messages/")
	assert.Equal(t, 2, bytes.Count(out.Bytes(), []byte(" sent ")), "%s", s)
	assert.Contains(t, s, "devices left after the send: 2 of 3")
}
