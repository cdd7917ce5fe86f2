//go:build !unix

package apns_test

import "time"

// processCPU is unknown here: the benchmarks then report no CPU figures.
func processCPU() time.Duration { return 0 }
