package proccpu_test

import (
	"runtime"
	"testing"

	"github.com/gonotify/notify/internal/proccpu"
)

// TestUsedGrows: burning CPU makes Used grow where the OS reports it.
func TestUsedGrows(t *testing.T) {
	if runtime.GOOS == "windows" || runtime.GOOS == "plan9" || runtime.GOOS == "js" || runtime.GOOS == "wasip1" {
		t.Skip("no getrusage on " + runtime.GOOS)
	}
	before := proccpu.Used()
	x := 0
	for i := range 200_000_000 {
		x ^= i
	}
	if after := proccpu.Used(); after <= before {
		t.Fatalf("CPU used went from %v to %v after a busy loop (%d)", before, after, x)
	}
}
