-- 0003: dead jobs are listed newest first (notify.DeadLister), page by page.
-- {{schema}} is replaced by the configured schema, quoted.

-- A dead job's run_at is when it was buried. The index serves
-- ORDER BY run_at DESC, id DESC within one queue, and the keyset
-- condition (run_at, id) < (cursor) of the next page.
CREATE INDEX queue_jobs_dead_by_time ON {{schema}}.queue_jobs (queue, run_at DESC, id DESC) WHERE state = 1;
DROP INDEX {{schema}}.queue_jobs_dead;
