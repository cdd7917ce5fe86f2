# shellcheck shell=bash
# Redis for ratelimit/redis and dedup/redis: a throwaway redis-server on
# 127.0.0.1:56379 (no persistence: --save "" --appendonly no), unless
# NOTIFY_TEST_REDIS_ADDR is already set. Each test uses its own key prefix, so
# one server serves every package. The pidfile, log and working directory live
# in $NOTIFY_TMP/redis; the server is stopped on cleanup.
# Also exports NOTIFY_TEST_REDIS_SERVER, the redis-server binary, for the tests
# that start (and stop, and restart) a private server of their own.
# Sourced by scripts/test.sh with NOTIFY_TMP and CLEANUP in scope.
if ! command -v redis-server >/dev/null 2>&1 || ! command -v redis-cli >/dev/null 2>&1; then
	echo "redis.sh: installing redis-server (apt-get)" >&2
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq >/dev/null
	apt-get install -y -qq redis-server >/dev/null
fi
if [ -z "${NOTIFY_TEST_REDIS_SERVER:-}" ]; then
	NOTIFY_TEST_REDIS_SERVER=$(command -v redis-server)
	export NOTIFY_TEST_REDIS_SERVER
fi
if [ -z "${NOTIFY_TEST_REDIS_ADDR:-}" ]; then
	notify_redis_port=${NOTIFY_REDIS_PORT:-56379}
	notify_redis_dir="$NOTIFY_TMP/redis"
	mkdir -p "$notify_redis_dir"
	# Another run (or a server left behind by a run killed before its cleanup)
	# may hold the port: take the next free one rather than touch it.
	while redis-cli -h 127.0.0.1 -p "$notify_redis_port" ping >/dev/null 2>&1 ||
		(exec 3<>"/dev/tcp/127.0.0.1/$notify_redis_port") 2>/dev/null; do
		notify_redis_port=$((notify_redis_port + 1))
	done
	redis-server --daemonize yes --bind 127.0.0.1 --port "$notify_redis_port" \
		--save "" --appendonly no --dir "$notify_redis_dir" \
		--pidfile "$notify_redis_dir/redis.pid" --logfile "$notify_redis_dir/redis.log" ||
		{ cat "$notify_redis_dir/redis.log" >&2 2>/dev/null; return 1; }
	CLEANUP+=("redis-cli -h 127.0.0.1 -p $notify_redis_port shutdown nosave || kill \$(cat '$notify_redis_dir/redis.pid')")
	for _ in $(seq 1 100); do
		if redis-cli -h 127.0.0.1 -p "$notify_redis_port" ping 2>/dev/null | grep -q PONG; then
			export NOTIFY_TEST_REDIS_ADDR="127.0.0.1:$notify_redis_port"
			break
		fi
		sleep 0.05
	done
	if [ -z "${NOTIFY_TEST_REDIS_ADDR:-}" ]; then
		echo "redis.sh: redis-server did not answer on 127.0.0.1:$notify_redis_port" >&2
		cat "$notify_redis_dir/redis.log" >&2 2>/dev/null
		return 1
	fi
fi
