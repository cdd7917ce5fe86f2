-- 0001: queue, store (contacts, preferences, log) and dedup tables.
-- Times are Unix nanoseconds by the process's clock (one process owns the
-- file: see the lock file); NULL is the zero time.

-- One table holds every queue's jobs. A job is ready when state = 0,
-- run_at <= now and it holds no unexpired lease; an expired lease is ready
-- again without a janitor.
CREATE TABLE queue_jobs (
	queue       TEXT    NOT NULL,
	id          TEXT    NOT NULL,
	state       INTEGER NOT NULL DEFAULT 0, -- 0 live (ready, delayed or leased), 1 dead
	run_at      INTEGER NOT NULL,           -- visible from
	lease       INTEGER,                    -- the current lease's token; NULL when not leased
	lease_until INTEGER,                    -- the current lease's deadline
	attempts    INTEGER NOT NULL DEFAULT 0, -- receives since enqueue or the last replay
	not_before  INTEGER,
	created_at  INTEGER NOT NULL,
	dead_reason TEXT,
	delivery    TEXT    NOT NULL,
	PRIMARY KEY (queue, id)
);
-- The fetch: oldest visible live jobs of one queue.
CREATE INDEX queue_jobs_fetch ON queue_jobs (queue, run_at) WHERE state = 0;
CREATE INDEX queue_jobs_dead ON queue_jobs (queue, run_at) WHERE state = 1;

CREATE TABLE contacts (
	user_id    TEXT    PRIMARY KEY,
	phone      TEXT    NOT NULL DEFAULT '',
	email      TEXT    NOT NULL DEFAULT '',
	locale     TEXT    NOT NULL DEFAULT '',
	time_zone  TEXT    NOT NULL DEFAULT '',
	updated_at INTEGER NOT NULL
);

CREATE TABLE contact_devices (
	user_id       TEXT    NOT NULL REFERENCES contacts (user_id) ON DELETE CASCADE,
	position      INTEGER NOT NULL,
	platform      TEXT    NOT NULL,
	token         TEXT    NOT NULL,
	registered_at INTEGER,
	app           TEXT    NOT NULL DEFAULT '',
	locale        TEXT    NOT NULL DEFAULT '',
	last_seen     INTEGER,
	PRIMARY KEY (user_id, position)
);
-- A (platform, token) pair has one owner across users
-- (notify.DeviceRegistry).
CREATE UNIQUE INDEX contact_devices_token ON contact_devices (platform, token);

CREATE TABLE preferences (
	user_id  TEXT    NOT NULL,
	category TEXT    NOT NULL,
	channel  TEXT    NOT NULL,
	allowed  INTEGER NOT NULL,
	PRIMARY KEY (user_id, category, channel)
);

-- The notification log: one row per event, in seq (rowid) order. A
-- delivery's state is the fold of its events (notify.DeliveryState.Apply).
-- report_key names a provider's report (notify.OnceRecorder); NULL for
-- every other event.
CREATE TABLE log_events (
	seq             INTEGER PRIMARY KEY,
	delivery_id     TEXT    NOT NULL,
	notification_id TEXT    NOT NULL,
	user_id         TEXT    NOT NULL DEFAULT '',
	category        TEXT    NOT NULL DEFAULT '',
	channel         TEXT    NOT NULL DEFAULT '',
	address         TEXT    NOT NULL DEFAULT '',
	status          TEXT    NOT NULL,
	reason          TEXT    NOT NULL DEFAULT '',
	attempt         INTEGER NOT NULL DEFAULT 0,
	provider_id     TEXT    NOT NULL DEFAULT '',
	maybe_sent      INTEGER NOT NULL DEFAULT 0,
	at              INTEGER,
	template        TEXT    NOT NULL DEFAULT '',
	locale          TEXT    NOT NULL DEFAULT '',
	report_key      TEXT
);
CREATE INDEX log_events_delivery ON log_events (delivery_id, seq);
CREATE INDEX log_events_notification ON log_events (notification_id);
CREATE INDEX log_events_at ON log_events (at);
CREATE INDEX log_events_user ON log_events (user_id) WHERE user_id <> '';
CREATE UNIQUE INDEX log_events_report_key ON log_events (delivery_id, report_key) WHERE report_key IS NOT NULL;

CREATE TABLE dedup_claims (
	key        TEXT    PRIMARY KEY,
	owner      TEXT    NOT NULL,
	expires_at INTEGER NOT NULL
);
CREATE INDEX dedup_claims_expires ON dedup_claims (expires_at);
