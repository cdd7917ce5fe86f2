-- 0002: when each preference was last set (Unix nanoseconds), for
-- settings screens (notify.PreferenceLister). Rows set before this
-- migration read 0: unknown.

ALTER TABLE preferences ADD COLUMN updated_at INTEGER NOT NULL DEFAULT 0;
