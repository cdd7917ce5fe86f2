-- 0004: a user's deliveries are listed newest first (notify.UserLog).
-- {{schema}} is replaced by the configured schema, quoted.

-- Every event carries its user; the index finds a user's events without
-- reading the rest of the log.
CREATE INDEX log_events_user ON {{schema}}.log_events (user_id) WHERE user_id <> '';
