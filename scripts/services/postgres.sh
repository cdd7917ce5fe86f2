# shellcheck shell=bash
# PostgreSQL for the postgres package's tests: a throwaway cluster on
# 127.0.0.1:55432 (trust auth, socket in $NOTIFY_TMP, fsync off: tests only),
# unless NOTIFY_TEST_POSTGRES_URL is already set. Each test creates and drops
# its own schema, so one cluster serves every package.
# Sourced by scripts/test.sh with NOTIFY_TMP and CLEANUP in scope.
if [ -z "${NOTIFY_TEST_POSTGRES_URL:-}" ]; then
	notify_pg_port=$(free_port "${NOTIFY_PG_PORT:-55432}")
	notify_pg_bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
	if [ -z "$notify_pg_bin" ] || [ ! -x "$notify_pg_bin/initdb" ]; then
		echo "postgres.sh: installing postgresql (apt-get)" >&2
		export DEBIAN_FRONTEND=noninteractive
		apt-get update -qq >/dev/null
		apt-get install -y -qq postgresql >/dev/null
		notify_pg_bin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
	fi
	notify_pg_dir="$NOTIFY_TMP/postgres"
	mkdir -p "$notify_pg_dir"
	chown postgres: "$notify_pg_dir"
	chmod 700 "$notify_pg_dir"
	# The temporary directory itself must be traversable by the postgres user.
	chmod o+x "$NOTIFY_TMP"
	runuser -u postgres -- "$notify_pg_bin/initdb" -D "$notify_pg_dir/data" -U postgres \
		--auth=trust -E UTF8 --no-locale --no-sync >"$notify_pg_dir/initdb.log" 2>&1 ||
		{ cat "$notify_pg_dir/initdb.log" >&2; return 1; }
	CLEANUP+=("runuser -u postgres -- '$notify_pg_bin/pg_ctl' -D '$notify_pg_dir/data' -m immediate -w stop")
	runuser -u postgres -- "$notify_pg_bin/pg_ctl" -D "$notify_pg_dir/data" -l "$notify_pg_dir/pg.log" -w -t 30 \
		-o "-c listen_addresses=127.0.0.1 -p $notify_pg_port -k $notify_pg_dir -c max_connections=300 -c fsync=off -c synchronous_commit=off -c full_page_writes=off" \
		start >/dev/null || { cat "$notify_pg_dir/pg.log" >&2; return 1; }
	export NOTIFY_TEST_POSTGRES_URL="postgres://postgres@127.0.0.1:$notify_pg_port/postgres?sslmode=disable"
	# The restart test (pg_ctl restart) needs to know how to reach the cluster.
	export NOTIFY_TEST_POSTGRES_PGCTL="$notify_pg_bin/pg_ctl"
	export NOTIFY_TEST_POSTGRES_DATA="$notify_pg_dir/data"
fi
