-- 0007: a contact's quiet hours (notify.Contact.QuietHours), as minutes
-- since midnight. NULL: unset (the category's apply); equal start and end:
-- none.
-- {{schema}} is replaced by the configured schema, quoted.

ALTER TABLE {{schema}}.contacts ADD COLUMN quiet_start smallint;
ALTER TABLE {{schema}}.contacts ADD COLUMN quiet_end smallint;
ALTER TABLE {{schema}}.contacts ADD CONSTRAINT contacts_quiet_hours CHECK (
	(quiet_start IS NULL AND quiet_end IS NULL)
	OR (quiet_start BETWEEN 0 AND 1439 AND quiet_end BETWEEN 0 AND 1439));
