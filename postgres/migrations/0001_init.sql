-- 0001: queue, store (contacts, preferences, log) and dedup tables.
-- {{schema}} is replaced by the configured schema, quoted.

-- One table holds every queue's jobs. A job is ready when state = 0,
-- run_at <= now() and it holds no unexpired lease. Receive sets only
-- columns that no index covers (lease, lease_until, attempts), so with the
-- free space fillfactor leaves, a lease is a HOT update that writes no
-- index; an expired lease is ready again without a janitor.
CREATE TABLE {{schema}}.queue_jobs (
	queue       text        NOT NULL,
	id          text        NOT NULL,
	state       smallint    NOT NULL DEFAULT 0, -- 0 live (ready, delayed or leased), 1 dead
	run_at      timestamptz NOT NULL,           -- visible from
	lease       bigint,                         -- the current lease's token; NULL when not leased
	lease_until timestamptz,                    -- the current lease's deadline
	attempts    integer     NOT NULL DEFAULT 0, -- receives since enqueue or the last replay
	not_before  timestamptz,
	created_at  timestamptz NOT NULL DEFAULT now(),
	dead_reason text,
	delivery    json,
	PRIMARY KEY (queue, id)
) WITH (fillfactor = 70);
-- The fetch: oldest visible live jobs of one queue.
CREATE INDEX queue_jobs_fetch ON {{schema}}.queue_jobs (queue, run_at) WHERE state = 0;
CREATE INDEX queue_jobs_dead ON {{schema}}.queue_jobs (queue) WHERE state = 1;
CREATE SEQUENCE {{schema}}.queue_lease_seq;

CREATE TABLE {{schema}}.contacts (
	user_id    text        PRIMARY KEY,
	phone      text        NOT NULL DEFAULT '',
	email      text        NOT NULL DEFAULT '',
	locale     text        NOT NULL DEFAULT '',
	time_zone  text        NOT NULL DEFAULT '',
	updated_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE {{schema}}.contact_devices (
	user_id       text        NOT NULL REFERENCES {{schema}}.contacts (user_id) ON DELETE CASCADE,
	position      integer     NOT NULL,
	platform      text        NOT NULL,
	token         text        NOT NULL,
	registered_at timestamptz,
	PRIMARY KEY (user_id, position)
);

CREATE TABLE {{schema}}.preferences (
	user_id  text    NOT NULL,
	category text    NOT NULL,
	channel  text    NOT NULL,
	allowed  boolean NOT NULL,
	PRIMARY KEY (user_id, category, channel)
);

-- The notification log: one row per event. A delivery's state is the fold
-- of its events (notify.DeliveryState.Apply), read by delivery_id in seq
-- order. Two B-trees per event (the key and notification_id); "at", which
-- grows with insertion, gets a BRIN index for Prune, nearly free to keep.
CREATE TABLE {{schema}}.log_events (
	seq             bigserial   NOT NULL,
	delivery_id     text        NOT NULL,
	notification_id text        NOT NULL,
	user_id         text        NOT NULL DEFAULT '',
	category        text        NOT NULL DEFAULT '',
	channel         text        NOT NULL DEFAULT '',
	address         text        NOT NULL DEFAULT '',
	status          text        NOT NULL,
	reason          text        NOT NULL DEFAULT '',
	attempt         integer     NOT NULL DEFAULT 0,
	provider_id     text        NOT NULL DEFAULT '',
	maybe_sent      boolean     NOT NULL DEFAULT false,
	at              timestamptz NOT NULL,
	PRIMARY KEY (delivery_id, seq)
);
CREATE INDEX log_events_notification ON {{schema}}.log_events (notification_id);
CREATE INDEX log_events_at ON {{schema}}.log_events USING brin (at);

CREATE TABLE {{schema}}.dedup_claims (
	key        text        PRIMARY KEY,
	owner      text        NOT NULL,
	expires_at timestamptz NOT NULL
);
CREATE INDEX dedup_claims_expires ON {{schema}}.dedup_claims USING brin (expires_at);
