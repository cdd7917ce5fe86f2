//go:build !unix

package notify_test

import "time"

// processCPU is -1: this system's process CPU time is not read here.
func processCPU() time.Duration { return -1 }
