CREATE SCHEMA IF NOT EXISTS {{schema}};
CREATE TABLE IF NOT EXISTS {{schema}}.api_keys (
    id           text PRIMARY KEY,
    name         text NOT NULL DEFAULT '',
    scopes       text[] NOT NULL DEFAULT '{}',
    -- version byte, AES-256-GCM nonce, then the sealed JSON of the secrets
    secrets      bytea NOT NULL,
    limit_rate   integer,
    limit_per_us bigint,
    limit_burst  integer,
    created_at   timestamptz NOT NULL,
    revoked_at   timestamptz,
    updated_at   timestamptz NOT NULL DEFAULT now()
);
