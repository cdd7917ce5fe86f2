package notify

import (
	"encoding/json"
	"math"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestJSONSizerEstimate: for values whose strings need no escaping, the
// estimate is within a few bytes per container of the real encoding, and
// never under it.
func TestJSONSizerEstimate(t *testing.T) {
	for _, v := range []any{
		nil, "", "abc", true, false, 0, -12345, int8(-7), uint64(math.MaxUint64), 3.25, float32(0.1), 1e300, -1e-300,
		json.Number("12.5"), time.Date(2025, 1, 2, 3, 4, 5, 6, time.UTC),
		[]string{"a", "bc"}, map[string]string{"k": "v", "kk": "vv"}, map[string]any{}, []any{},
		map[string]any{"a": []any{1, "x", map[string]any{"b": nil, "c": 2.5}}, "d": []string{"e"}},
		struct{ A, B string }{"x", "y"}, []int{1, 2, 3},
	} {
		want, err := json.Marshal(v)
		require.NoError(t, err)
		s := jsonSizer{max: math.MaxInt}
		require.NoError(t, s.walk(v, 0), "%#v", v)
		assert.GreaterOrEqual(t, s.n, len(want), "%#v: %s", v, want)
		assert.LessOrEqual(t, s.n, len(want)+8, "%#v: %s", v, want)
	}
}

// countingMarshaler counts its MarshalJSON calls.
type countingMarshaler struct{ calls *int }

func (m countingMarshaler) MarshalJSON() ([]byte, error) {
	*m.calls++
	return []byte(`"0123456789"`), nil
}

// TestJSONSizerStopsAtBudget: the walk stops once over its budget, so a
// huge value costs no more than the budget to reject.
func TestJSONSizerStopsAtBudget(t *testing.T) {
	calls := 0
	big := make([]any, 100000)
	for i := range big {
		big[i] = countingMarshaler{&calls}
	}
	s := jsonSizer{max: 1000}
	require.ErrorIs(t, s.walk(map[string]any{"big": big}, 0), errOverBudget)
	assert.Zero(t, calls, "the list's length alone is over the budget")

	s = jsonSizer{max: 1000}
	require.ErrorIs(t, s.walk(map[string]any{"big": big[:50], "more": big[:50]}, 0), errOverBudget)
	assert.Less(t, calls, 100, "marshaled until over the budget, not every element")

	s = jsonSizer{max: 1000}
	assert.ErrorContains(t, s.walk(map[string]any{"f": math.NaN()}, 0), "f: NaN is not a JSON number")
	assert.ErrorContains(t, s.walk(map[string]any{"f": []any{float32(math.Inf(1))}}, 0), "f: [0]: +Inf is not a JSON number")
}
