package keyring

import (
	"bytes"
	"strings"
	"testing"
)

func TestCheck(t *testing.T) {
	k := bytes.Repeat([]byte{'k'}, MinBytes)
	keys := [][]byte{k, bytes.Repeat([]byte{'o'}, 32)}
	got, err := Check(keys)
	if err != nil {
		t.Fatal(err)
	}
	k[0] = 'x'
	if len(got) != 2 || got[0][0] != 'k' || !bytes.Equal(got[1], keys[1]) {
		t.Errorf("Check = %q, want a copy of the keys that the caller's later writes leave alone", got)
	}
	for name, c := range map[string]struct {
		keys [][]byte
		want string
	}{
		"none":      {nil, "Config.Keys is empty"},
		"too many":  {make([][]byte, Max+1), "Config.Keys has 9 keys; at most 8"},
		"too short": {[][]byte{k, k[:MinBytes-1]}, "Config.Keys[1] is 15 bytes; at least 16"},
	} {
		if _, err := Check(c.keys); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: err = %v, want one saying %q", name, err, c.want)
		}
	}
}
