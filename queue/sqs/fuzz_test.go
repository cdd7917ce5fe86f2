package sqs

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gonotify/notify"
)

// FuzzDecode: any message body either decodes to a job with an ID or is an
// error; never a panic. A job encodes and decodes to itself.
func FuzzDecode(f *testing.F) {
	f.Add(`{"v":1,"id":"a","queue":"q","delivery":{"id":"a"}}`)
	f.Add(`{"v":1,"id":"","queue":"q"}`)
	f.Add(`{"v":2,"id":"a"}`)
	f.Add(`{not json`)
	f.Add(``)
	f.Fuzz(func(t *testing.T, body string) {
		j, err := decode(body)
		if err != nil {
			return
		}
		require.NotEmpty(t, j.ID)
		again, err := encode(j)
		require.NoError(t, err)
		k, err := decode(again)
		require.NoError(t, err)
		assert.Equal(t, j.ID, k.ID)
		assert.Equal(t, j.Queue, k.Queue)
		assert.True(t, j.NotBefore.Equal(k.NotBefore))
	})
}

func TestEncodeDecode(t *testing.T) {
	j := notify.Job{ID: "d1", Queue: "notify.sms", NotBefore: time.Date(2030, 1, 2, 3, 4, 5, 6, time.UTC),
		Delivery: &notify.Delivery{ID: "d1", UserID: "u", Message: notify.Message{Body: "hi"}}}
	body, err := encode(j)
	require.NoError(t, err)
	got, err := decode(body)
	require.NoError(t, err)
	assert.Equal(t, j.ID, got.ID)
	assert.Equal(t, j.Queue, got.Queue)
	assert.True(t, j.NotBefore.Equal(got.NotBefore))
	assert.Equal(t, j.Delivery.Message, got.Delivery.Message)
}

// FuzzName: every notify queue name maps to a valid SQS queue name, with
// room for the dead-letter suffix, and different names rarely collide.
func FuzzName(f *testing.F) {
	f.Add("notify.sms", false)
	f.Add(strings.Repeat("é", 100), true)
	f.Add("", true)
	f.Fuzz(func(t *testing.T, queue string, fifo bool) {
		for _, name := range []string{Name(queue, fifo), sqsName(queue, deadSuffix, fifo)} {
			assert.LessOrEqual(t, len(name), maxNameLen, name)
			base := strings.TrimSuffix(name, fifoSuffix)
			assert.Equal(t, fifo, base != name, "FIFO suffix")
			assert.NotEmpty(t, base)
			for _, r := range base {
				ok := r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_'
				assert.True(t, ok, "character %q in %q", r, name)
			}
		}
	})
}

func TestEarlyReceipts(t *testing.T) {
	base := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, c := range []struct {
		notBefore, first time.Time
		want             int
	}{
		{time.Time{}, base, 0},
		{base, base, 0},
		{base, base.Add(time.Second), 0},
		{base.Add(2 * time.Second), base, 1},
		{base.Add(11 * time.Hour), base, 1},
		{base.Add(13 * time.Hour), base, 2},
		{base.Add(30 * time.Hour), base, 3},
	} {
		assert.Equal(t, c.want, earlyReceipts(c.notBefore, c.first), "notBefore %v, first %v", c.notBefore, c.first)
	}
}

func TestDedupID(t *testing.T) {
	assert.Equal(t, "a:b", dedupID("a", "b"))
	long := dedupID(strings.Repeat("x", 200))
	assert.Len(t, long, 64)
	assert.Len(t, dedupID("ü"), 64, "non-ASCII is hashed")
	assert.NotEqual(t, dedupID("ü"), dedupID("ö"))
}
