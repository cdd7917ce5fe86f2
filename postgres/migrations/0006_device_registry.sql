-- 0006: the device registry (notify.DeviceRegistry). A device carries its
-- app, locale and last-seen time, and a (platform, token) pair has one
-- owner across users.
-- {{schema}} is replaced by the configured schema, quoted.

ALTER TABLE {{schema}}.contact_devices ADD COLUMN app text NOT NULL DEFAULT '';
ALTER TABLE {{schema}}.contact_devices ADD COLUMN locale text NOT NULL DEFAULT '';
ALTER TABLE {{schema}}.contact_devices ADD COLUMN last_seen timestamptz;

-- Before the unique index: of the rows that share a token, keep the most
-- recently registered one (ties: the greatest user ID, then position).
DELETE FROM {{schema}}.contact_devices d
USING {{schema}}.contact_devices e
WHERE d.platform = e.platform AND d.token = e.token
	AND (coalesce(d.registered_at, '-infinity'), d.user_id, d.position)
	  < (coalesce(e.registered_at, '-infinity'), e.user_id, e.position);

CREATE UNIQUE INDEX contact_devices_token ON {{schema}}.contact_devices (platform, token);
