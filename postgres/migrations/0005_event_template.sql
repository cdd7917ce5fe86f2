-- 0005: every event names its notification's template and the recipient's
-- locale, so engagement can be reported per template.
-- {{schema}} is replaced by the configured schema, quoted.

-- Adding a column with a constant default rewrites nothing.
ALTER TABLE {{schema}}.log_events ADD COLUMN template text NOT NULL DEFAULT '';
ALTER TABLE {{schema}}.log_events ADD COLUMN locale text NOT NULL DEFAULT '';
