// Command notifyd serves notify's HTTP API (package notifyhttp): send,
// status, replay, contacts and preferences under /v1, signed with API
// keys, plus /metrics (Prometheus) and the providers' webhooks.
//
//	notifyd [serve] [flags]
//	notifyd keys create --name NAME --scopes send,read [--limit 100/1m]
//	notifyd keys list | rotate ID [--overlap 24h] | revoke ID
//
// With no backend flag everything is in memory (a loud warning says so):
// go run ./cmd/notifyd from the repository root starts a working server
// with console channels that print what each provider would receive, and
// prints a fresh API key. In production give --postgres-url (queue, log,
// dedup and API keys in PostgreSQL, secrets encrypted with
// --key-encryption-key), optionally --redis-addr (shared dedup and rate
// limits) and --sqs-region (SQS carries the deliveries), and each
// provider's credentials.
//
// Every setting is a flag (--postgres-url), an environment variable
// (NOTIFYD_POSTGRES_URL) and a key of the JSON file named by --config
// ("postgres-url"); flags win over variables, variables over the file.
// notifyd serve --help lists them.
//
// SIGTERM or SIGINT stops it gracefully: it stops accepting connections,
// lets in-flight requests finish, stops delivering (sends in progress
// finish or go back to the queue), and exits 0.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	go func() {
		<-ctx.Done()
		stop() // a second signal kills at once
	}()
	os.Exit(run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr))
}

// usage is the top-level help.
const usage = `usage:
  notifyd [serve] [flags]      serve the HTTP API (the default command)
  notifyd keys ...             manage API keys (notifyd keys --help)

notifyd serve --help lists the flags; each is also a NOTIFYD_* variable
and a key of the --config JSON file.
`

// run runs the command in args and returns the exit code: 0, 1 when the
// command failed, 2 when it was misused.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	// Settings may come before the command too: notifyd --config x keys list.
	global := flag.NewFlagSet("notifyd", flag.ContinueOnError)
	global.SetOutput(stderr)
	global.Usage = func() { fmt.Fprint(stderr, usage) }
	var seen []rawFlag
	addSettingFlags(global, &seen)
	if err := global.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	args = global.Args()
	cmd := "serve"
	if len(args) > 0 {
		cmd, args = args[0], args[1:]
	}
	switch cmd {
	case "serve":
		return serveCommand(ctx, args, seen, getenv, stdout, stderr)
	case "keys":
		return keysCommand(ctx, args, seen, getenv, stdout, stderr)
	case "help":
		fmt.Fprint(stderr, usage)
		return 0
	}
	fmt.Fprintf(stderr, "notifyd: unknown command %q\n\n%s", cmd, usage)
	return 2
}

// serveCommand parses serve's flags and serves.
func serveCommand(ctx context.Context, args []string, global []rawFlag, getenv func(string) string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("notifyd serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	seen := append([]rawFlag(nil), global...)
	addSettingFlags(fs, &seen)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "notifyd serve: unexpected arguments %q\n", fs.Args())
		return 2
	}
	cfg, err := loadConfig(seen, getenv)
	if err != nil {
		fmt.Fprintln(stderr, "notifyd:", err)
		return 2
	}
	if err := serve(ctx, &cfg, stdout, stderr); err != nil {
		fmt.Fprintln(stderr, "notifyd:", err)
		return 1
	}
	return 0
}
