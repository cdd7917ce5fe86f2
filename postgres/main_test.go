package postgres_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"net/url"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/gonotify/notify/internal/testenv"
	"github.com/gonotify/notify/postgres"
)

// TestMain gives the examples, which connect to DATABASE_URL and use the
// default schema, a database of their own on the test server
// (NOTIFY_TEST_POSTGRES_URL), dropped after the run. Without a server they
// are skipped, or fail under CI=true, as the tests are.
func TestMain(m *testing.M) {
	flag.Parse()
	drop, err := exampleDatabase()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := m.Run()
	drop()
	os.Exit(code)
}

// exampleDatabase creates the examples' database and points DATABASE_URL
// at it, when the examples are to run: -test.run is empty, names an
// example or matches "Example" (the helper processes the multi-process
// tests start run one test each, and create none). Otherwise, or without a
// server, it adds the examples to -test.skip. drop drops the database.
func exampleDatabase() (drop func(), err error) {
	drop = func() {}
	run := flag.Lookup("test.run").Value.String()
	wanted := run == "" || strings.Contains(run, "Example")
	if !wanted {
		re, err := regexp.Compile(strings.SplitN(run, "/", 2)[0])
		wanted = err == nil && re.MatchString("Example")
	}
	server := os.Getenv("NOTIFY_TEST_POSTGRES_URL")
	if wanted && server == "" {
		msg := "the postgres examples need PostgreSQL: set NOTIFY_TEST_POSTGRES_URL to its address, or run `make test`, which starts a throwaway one"
		if os.Getenv("CI") == "true" {
			return drop, errors.New(msg + " (CI=true: a missing service is a failure)")
		}
		if testing.Verbose() {
			fmt.Fprintln(os.Stderr, msg+"; skipping them")
		}
		wanted = false
	}
	if !wanted {
		skip := "^Example"
		if s := flag.Lookup("test.skip").Value.String(); s != "" {
			skip = s + "|" + skip
		}
		return drop, flag.Set("test.skip", skip)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, server)
	if err != nil {
		return drop, fmt.Errorf("examples: connect to NOTIFY_TEST_POSTGRES_URL: %w", err)
	}
	defer conn.Close(ctx)
	name := "nt_examples_" + randomSchema()[3:]
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		return drop, fmt.Errorf("examples: create database %s: %w", name, err)
	}
	u, err := url.Parse(server)
	if err == nil && u.Scheme != "" {
		u.Path = "/" + name
		err = os.Setenv("DATABASE_URL", u.String())
	} else {
		err = os.Setenv("DATABASE_URL", server+" dbname="+name) // keyword/value form
	}
	drop = func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, server)
		if err == nil {
			defer conn.Close(ctx)
			_, err = conn.Exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)")
		}
		if err != nil {
			fmt.Fprintf(os.Stderr, "examples: drop database %s: %v\n", name, err)
		}
	}
	if err != nil {
		drop()
		return func() {}, err
	}
	return drop, nil
}

// testDB connects to the test server and migrates a schema of the test's
// own (random name), dropped when the test ends.
func testDB(t testing.TB) (*pgxpool.Pool, string) {
	t.Helper()
	url := testenv.Need(t, "NOTIFY_TEST_POSTGRES_URL", "PostgreSQL")
	cfg, err := pgxpool.ParseConfig(url)
	require.NoError(t, err, "parse NOTIFY_TEST_POSTGRES_URL")
	cfg.MaxConns = 16
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	require.NoError(t, err, "connect to PostgreSQL")
	t.Cleanup(pool.Close)
	schema := randomSchema()
	pg, err := postgres.New(pool, postgres.Config{Schema: schema})
	require.NoError(t, err)
	require.NoError(t, pg.Migrate(ctx))
	require.NoError(t, pg.Close())
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_, err := pool.Exec(ctx, "DROP SCHEMA "+pgx.Identifier{schema}.Sanitize()+" CASCADE")
		if err != nil {
			t.Logf("drop test schema %s: %v", schema, err)
		}
	})
	return pool, schema
}

func randomSchema() string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return "nt_" + hex.EncodeToString(b[:])
}
