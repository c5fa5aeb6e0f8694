-- Tenancy: organizations own users, API tokens and schedulers.
CREATE TABLE organizations (
    id              TEXT PRIMARY KEY CHECK (length(id) BETWEEN 1 AND 128),
    -- Secret used to sign webhook deliveries (Standard Webhooks, "whsec_" + base64).
    signing_secret  TEXT NOT NULL,
    created_at      TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE TABLE users (
    organization_id TEXT NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    id              TEXT NOT NULL CHECK (length(id) BETWEEN 1 AND 128),
    created_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (organization_id, id)
);

-- Only the SHA-256 of a token is stored; the token itself is shown once at creation.
CREATE TABLE api_tokens (
    id              UUID PRIMARY KEY,
    organization_id TEXT NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    token_hash      BYTEA NOT NULL UNIQUE,
    created_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    revoked_at      TIMESTAMPTZ
);
CREATE INDEX api_tokens_org ON api_tokens (organization_id);

CREATE TABLE schedulers (
    id                      TEXT PRIMARY KEY CHECK (id ~ '^[0-9a-f]{24}$'),
    organization_id         TEXT NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    created_by              TEXT NOT NULL,
    updated_by              TEXT,
    type                    TEXT NOT NULL CHECK (type IN ('recurring', 'non_recurring')),
    name                    TEXT NOT NULL,
    event_type              TEXT NOT NULL,
    description             TEXT NOT NULL DEFAULT '',
    options                 JSONB,
    job                     JSONB NOT NULL,
    internal_id             TEXT,
    channel_source          TEXT NOT NULL DEFAULT '',
    -- Timing, as the client gave it (validated by the core crate before it gets here).
    trigger_frequency_unit  TEXT,
    trigger_frequency_value INTEGER,
    trigger_time            TIMESTAMPTZ,
    triger_month_and_day    TIMESTAMPTZ,
    start_datetime          TIMESTAMPTZ NOT NULL,
    one_time_schedule_type  TEXT,
    timezone                TEXT NOT NULL DEFAULT 'UTC',
    cron_expression         TEXT,
    end_datetime            TIMESTAMPTZ,
    max_fires               BIGINT,
    misfire_policy          TEXT NOT NULL DEFAULT 'fire_once'
                            CHECK (misfire_policy IN ('fire_once', 'skip', 'fire_all')),
    -- Run state.
    is_paused               BOOLEAN NOT NULL DEFAULT false,
    is_finished             BOOLEAN NOT NULL DEFAULT false,
    -- NULL when paused or finished: the due index below only holds schedulers that can fire.
    next_fire_at            TIMESTAMPTZ,
    last_fired_at           TIMESTAMPTZ,
    fire_count              BIGINT NOT NULL DEFAULT 0,
    created_at              TIMESTAMPTZ NOT NULL,
    updated_at              TIMESTAMPTZ NOT NULL,
    FOREIGN KEY (organization_id, created_by) REFERENCES users (organization_id, id) ON DELETE CASCADE
);

-- The runner's claim walks this index in next_fire_at order and stops at "now".
CREATE INDEX schedulers_due ON schedulers (next_fire_at) WHERE next_fire_at IS NOT NULL;
-- Listing is always scoped by organization and user, newest first.
CREATE INDEX schedulers_owner_newest
    ON schedulers (organization_id, created_by, created_at DESC, id DESC);
CREATE INDEX schedulers_owner_event_type
    ON schedulers (organization_id, created_by, event_type, created_at DESC, id DESC);

-- One row per slot of a scheduler (or per manual run): the outbox the runner delivers from.
-- No foreign key to schedulers: a deleted scheduler's history stays, its open fires cancelled.
CREATE TABLE fires (
    id              UUID PRIMARY KEY,
    scheduler_id    TEXT NOT NULL,
    organization_id TEXT NOT NULL,
    scheduled_for   TIMESTAMPTZ NOT NULL,
    manual          BOOLEAN NOT NULL DEFAULT false,
    late            BOOLEAN NOT NULL DEFAULT false,
    skipped_slots   INTEGER NOT NULL DEFAULT 0,
    status          TEXT NOT NULL DEFAULT 'pending'
                    CHECK (status IN ('pending', 'delivering', 'delivered', 'retrying', 'dead', 'cancelled')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    -- When the fire may next be taken for delivery: the slot time when pending, the retry time
    -- when retrying, the lease expiry when delivering (an expired lease makes it available again).
    available_at    TIMESTAMPTZ NOT NULL,
    locked_until    TIMESTAMPTZ,
    locked_by       TEXT,
    last_error      TEXT,
    created_at      TIMESTAMPTZ NOT NULL,
    delivered_at    TIMESTAMPTZ,
    UNIQUE (scheduler_id, scheduled_for)
);

-- Deliverable fires, in the order the runner takes them.
CREATE INDEX fires_available ON fires (available_at)
    WHERE status IN ('pending', 'retrying', 'delivering');
-- History pages, newest first.
CREATE INDEX fires_history ON fires (scheduler_id, scheduled_for DESC, id DESC);

CREATE TABLE attachments (
    file_id         UUID PRIMARY KEY,
    scheduler_id    TEXT NOT NULL REFERENCES schedulers (id) ON DELETE CASCADE,
    organization_id TEXT NOT NULL,
    name            TEXT NOT NULL,
    file_path       TEXT NOT NULL,
    size            BIGINT NOT NULL,
    file_type       TEXT NOT NULL,
    file_extension  TEXT NOT NULL,
    is_public       BOOLEAN NOT NULL DEFAULT false,
    short_path      TEXT NOT NULL,
    position        INTEGER NOT NULL DEFAULT 0,
    created_at      TIMESTAMPTZ NOT NULL
);
CREATE INDEX attachments_scheduler ON attachments (scheduler_id, position);

-- Objects whose deletion from the store failed or is pending after a commit; a sweeper retries.
CREATE TABLE orphan_objects (
    file_path       TEXT PRIMARY KEY,
    reason          TEXT NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    created_at      TIMESTAMPTZ NOT NULL DEFAULT now()
);
