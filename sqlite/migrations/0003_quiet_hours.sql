-- 0002: a contact's quiet hours (notify.Contact.QuietHours), as minutes
-- since midnight. NULL: unset (the category's apply); equal start and end:
-- none.

ALTER TABLE contacts ADD COLUMN quiet_start INTEGER;
ALTER TABLE contacts ADD COLUMN quiet_end INTEGER;
