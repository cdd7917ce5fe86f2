// Package testenv finds the real servers that integration tests need.
//
// A test asks for a service by the environment variable that holds its
// address. When the variable is empty the test is skipped with a message
// saying how to get the service, except under CI=true, where a missing
// service fails the test: CI never skips.
package testenv

import (
	"os"
	"testing"
)

// Need returns the value of the environment variable env (a server's
// address or URL). When it is unset the test is skipped, or failed when
// CI=true. what names the service in the message.
func Need(t testing.TB, env, what string) string {
	t.Helper()
	v := os.Getenv(env)
	if v != "" {
		return v
	}
	msg := what + " is needed: set " + env + " to its address, or run `make test`, which starts a throwaway one"
	if os.Getenv("CI") == "true" {
		t.Fatal(msg + " (CI=true: a missing service is a failure)")
	}
	t.Skip(msg)
	return ""
}
