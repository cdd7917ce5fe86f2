-- 0007: when each preference was last set, for settings screens
-- (notify.PreferenceLister). Rows set before this migration read as set
-- at the time it ran.
-- {{schema}} is replaced by the configured schema, quoted.

ALTER TABLE {{schema}}.preferences ADD COLUMN updated_at timestamptz NOT NULL DEFAULT now();
