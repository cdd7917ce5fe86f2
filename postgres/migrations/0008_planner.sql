-- 0007: the statements that run at every delivery or lookup keep their
-- plan whatever the tables' statistics say.
-- {{schema}} is replaced by the configured schema, quoted.

-- Without fresh statistics (autovacuum off, or any window between a bulk
-- enqueue and the next autoanalyze; worse, statistics taken while every
-- job was leased) the planner may read a whole backlog and sort it for
-- each fetch, or hash-join the whole log for one notification's status.
-- Each function below runs one statement with the plans it must not use
-- turned off for that statement only (SET on a function lasts for its
-- call): the only plans left are the indexed ones, so statistics choose
-- nothing. jit is off because a turned-off plan still carries its
-- (enormous) cost, which would otherwise make every call compile code.

-- Receive: lease up to n ready jobs of queue q, oldest first, for vis.
-- The index queue_jobs_fetch (queue, run_at) WHERE state = 0 yields the
-- jobs in run_at order, so no sort of the backlog is possible. With after
-- set, the scan starts at run_at = after: acked jobs leave dead entries at
-- the front of the index until VACUUM, and a scan from the start of a
-- drained backlog would step over all of them (see Queue.Receive). Each
-- row comes with its run_at, for the caller's next after.
CREATE FUNCTION {{schema}}.queue_receive(q text, n integer, vis interval, after timestamptz)
RETURNS TABLE (id text, attempts integer, lease bigint, not_before timestamptz, delivery json, lease_left interval, run_at timestamptz)
LANGUAGE sql VOLATILE
SET enable_seqscan = off SET enable_bitmapscan = off SET enable_sort = off SET jit = off
AS $$
	UPDATE {{schema}}.queue_jobs j
	SET lease = nextval('{{schema}}.queue_lease_seq'), lease_until = now() + $3, attempts = j.attempts + 1
	WHERE j.queue = $1 AND j.id = ANY(ARRAY(
		SELECT f.id FROM {{schema}}.queue_jobs f
		WHERE f.queue = $1 AND f.state = 0 AND f.run_at >= coalesce($4, '-infinity') AND f.run_at <= now()
			AND (f.lease_until IS NULL OR f.lease_until <= now())
		ORDER BY f.run_at
		LIMIT $2
		FOR UPDATE SKIP LOCKED))
	RETURNING j.id, j.attempts, j.lease, j.not_before, j.delivery, j.lease_until - clock_timestamp(), j.run_at
$$;

-- When queue q next has a job ready: the first unleased one, or the first
-- lease to expire (leased jobs all have run_at in the past), from now.
CREATE FUNCTION {{schema}}.queue_next(q text) RETURNS interval
LANGUAGE sql STABLE
SET enable_seqscan = off SET enable_bitmapscan = off SET enable_sort = off SET jit = off
AS $$
	SELECT least(
		(SELECT f.run_at FROM {{schema}}.queue_jobs f
			WHERE f.queue = $1 AND f.state = 0 AND f.lease IS NULL ORDER BY f.run_at LIMIT 1),
		(SELECT min(f.lease_until) FROM {{schema}}.queue_jobs f
			WHERE f.queue = $1 AND f.state = 0 AND f.run_at <= now() AND f.lease IS NOT NULL)) - now()
$$;

-- The statuses of deliveries ids, by delivery and in seq order (State).
CREATE FUNCTION {{schema}}.log_states(ids text[])
RETURNS TABLE (delivery_id text, status text)
LANGUAGE sql STABLE
SET enable_seqscan = off SET enable_hashjoin = off SET enable_mergejoin = off SET jit = off
AS $$
	SELECT e.delivery_id, e.status FROM {{schema}}.log_events e
	WHERE e.delivery_id = ANY($1) ORDER BY e.delivery_id, e.seq
$$;

-- One delivery's events (Delivery), and every event of a notification's
-- deliveries (Deliveries): the primary key and log_events_notification.
-- Callers order the rows by seq.
CREATE FUNCTION {{schema}}.log_delivery(id text)
RETURNS SETOF {{schema}}.log_events
LANGUAGE sql STABLE
SET enable_seqscan = off SET enable_hashjoin = off SET enable_mergejoin = off SET jit = off
AS $$
	SELECT e.* FROM {{schema}}.log_events e WHERE e.delivery_id = $1
$$;

CREATE FUNCTION {{schema}}.log_notification(id text)
RETURNS SETOF {{schema}}.log_events
LANGUAGE sql STABLE
SET enable_seqscan = off SET enable_hashjoin = off SET enable_mergejoin = off SET jit = off
AS $$
	SELECT e.* FROM {{schema}}.log_events e
	WHERE e.delivery_id IN (SELECT n.delivery_id FROM {{schema}}.log_events n WHERE n.notification_id = $1)
$$;

-- Pruning finds old rows through the BRIN indexes on log_events.at and
-- dedup_claims.expires_at rather than a scan of the whole table. BRIN
-- reads only the block ranges it has summarized as holding old rows;
-- ranges not yet summarized are always read. autosummarize has
-- autovacuum summarize each range once it is full; brin_summarize below,
-- which Prune calls first, summarizes the rest (it needs to own the
-- index, and does nothing otherwise).
ALTER INDEX {{schema}}.log_events_at SET (autosummarize = on);
ALTER INDEX {{schema}}.dedup_claims_expires SET (autosummarize = on);

CREATE FUNCTION {{schema}}.brin_summarize(idx regclass) RETURNS integer
LANGUAGE plpgsql VOLATILE
AS $$
BEGIN
	RETURN brin_summarize_new_values(idx);
EXCEPTION WHEN insufficient_privilege THEN
	RETURN 0;
END
$$;

-- Delete up to n log events older than cutoff, and return how many. SKIP
-- LOCKED: processes pruning at once take different rows rather than
-- waiting for (or deadlocking with) each other. The rows are deleted by
-- ctid (a TID scan), locked by the same statement.
CREATE FUNCTION {{schema}}.log_prune(cutoff timestamptz, n integer) RETURNS bigint
LANGUAGE sql VOLATILE
SET enable_seqscan = off SET jit = off
AS $$
	WITH d AS (
		DELETE FROM {{schema}}.log_events
		WHERE ctid = ANY(ARRAY(
			SELECT e.ctid FROM {{schema}}.log_events e WHERE e.at < $1 LIMIT $2 FOR UPDATE SKIP LOCKED))
		RETURNING 1)
	SELECT count(*) FROM d
$$;

-- Delete up to n expired dedup claims, and return how many. A claim that
-- a Claim took over (a new expiry) between the pick and the delete stays.
CREATE FUNCTION {{schema}}.dedup_prune(n integer) RETURNS bigint
LANGUAGE sql VOLATILE
SET enable_seqscan = off SET jit = off
AS $$
	WITH d AS (
		DELETE FROM {{schema}}.dedup_claims
		WHERE ctid = ANY(ARRAY(
			SELECT c.ctid FROM {{schema}}.dedup_claims c WHERE c.expires_at <= now() LIMIT $1 FOR UPDATE SKIP LOCKED))
			AND expires_at <= now()
		RETURNING 1)
	SELECT count(*) FROM d
$$;
