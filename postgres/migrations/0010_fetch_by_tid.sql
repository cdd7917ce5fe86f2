-- 0010: a cheaper fetch.
-- {{schema}} is replaced by the configured schema, quoted.

-- Each fetch updates the rows it leases (lease, lease_until, attempts),
-- none of them indexed. Such an update can stay on its page (a HOT
-- update: no new index entries, a fraction of the WAL) only if the page
-- has room for the new row version; at the default fillfactor of 100 the
-- pages of a backlog are full, and every lease wrote two index entries
-- and the row again. Half of each page is left free for the leases (a job
-- row is mostly its delivery, a few hundred bytes). Rows already stored
-- keep their pages; new ones fill half.
ALTER TABLE {{schema}}.queue_jobs SET (fillfactor = 50);

-- The fetch (see 0008) now updates the rows it locked by their tuple IDs
-- (a Tid Scan) rather than looking each up again in the primary key. A
-- locked row cannot move until the statement's transaction ends, so its
-- tuple ID names it. A row another transaction updated after this
-- statement's snapshot (and before the lock; rare: a release or a nack
-- racing the fetch) is invisible at its new tuple ID and is left out of
-- this fetch, not leased twice: the fetch returns fewer rows than it
-- could, the row stays locked until the fetch's transaction ends (in a
-- caller's transaction, Backend.Tx, until that ends), and a later fetch
-- takes it (when the fetch hint has passed it, the next scan from the
-- queue's front).
CREATE OR REPLACE FUNCTION {{schema}}.queue_receive(q text, n integer, vis interval, after timestamptz)
RETURNS TABLE (id text, attempts integer, lease bigint, not_before timestamptz, delivery json, lease_left interval, run_at timestamptz)
LANGUAGE sql VOLATILE
SET enable_seqscan = off SET enable_bitmapscan = off SET enable_sort = off SET jit = off
AS $$
	UPDATE {{schema}}.queue_jobs j
	SET lease = nextval('{{schema}}.queue_lease_seq'), lease_until = now() + $3, attempts = j.attempts + 1
	WHERE j.ctid = ANY(ARRAY(
		SELECT f.ctid FROM {{schema}}.queue_jobs f
		WHERE f.queue = $1 AND f.state = 0 AND f.run_at >= coalesce($4, '-infinity') AND f.run_at <= now()
			AND (f.lease_until IS NULL OR f.lease_until <= now())
		ORDER BY f.run_at
		LIMIT $2
		FOR UPDATE SKIP LOCKED))
	RETURNING j.id, j.attempts, j.lease, j.not_before, j.delivery, j.lease_until - clock_timestamp(), j.run_at
$$;
