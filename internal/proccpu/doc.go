// Package proccpu reads the CPU time the running process has used, for
// benchmarks that report CPU per operation beside wall-clock rates (the
// channels' provider benchmarks, where client and server run in separate
// processes on the same cores).
package proccpu
