-- 0002: provider reports are recorded once (notify.OnceRecorder).
-- {{schema}} is replaced by the configured schema, quoted.

-- report_key names a provider's report on a delivery (Dispatcher.Feedback's
-- hash of its status, reason, provider ID and time); NULL for every other
-- event. The partial unique index makes a second copy of a report a
-- no-op (INSERT ... ON CONFLICT DO NOTHING) even when both copies arrive at
-- once. Adding a nullable column rewrites nothing; building the index
-- reads log_events once, under a lock that holds writes to it back.
ALTER TABLE {{schema}}.log_events ADD COLUMN report_key text;
CREATE UNIQUE INDEX log_events_report_key ON {{schema}}.log_events (delivery_id, report_key)
	WHERE report_key IS NOT NULL;
