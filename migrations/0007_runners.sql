-- Runners alive (issue 15): each runner upserts its row on every heartbeat (a third of the
-- lease, 10 s by default) and removes it when it stops. A runner killed leaves its row; the
-- admin route shows rows by the age of their last heartbeat, and rows silent for a day are
-- removed by the next heartbeat of any runner.
CREATE TABLE runners (
    owner             TEXT PRIMARY KEY,
    started_at        TIMESTAMPTZ NOT NULL,
    last_heartbeat_at TIMESTAMPTZ NOT NULL,
    -- Fires the runner holds a lease on at its last heartbeat.
    in_flight         INTEGER NOT NULL DEFAULT 0
);

-- Operator console sessions (issue 15): a token (API token or ADMIN_TOKEN) exchanged for a
-- session cookie. Only the SHA-256 of the cookie's value is kept. A tenant session ends with
-- its API token (revoked tokens are checked on every request); an operator session keeps the
-- hash of the ADMIN_TOKEN it was opened with and ends when the configured token changes.
CREATE TABLE console_sessions (
    id_hash          BYTEA PRIMARY KEY,
    -- NULL for an operator (ADMIN_TOKEN) session, which sees every organization.
    organization_id  TEXT REFERENCES organizations (id) ON DELETE CASCADE,
    token_id         UUID REFERENCES api_tokens (id) ON DELETE CASCADE,
    admin_token_hash BYTEA,
    csrf_token       TEXT NOT NULL,
    created_at       TIMESTAMPTZ NOT NULL,
    expires_at       TIMESTAMPTZ NOT NULL,
    CHECK ((organization_id IS NULL) = (token_id IS NULL)),
    CHECK ((organization_id IS NULL) = (admin_token_hash IS NOT NULL))
);
CREATE INDEX console_sessions_expires ON console_sessions (expires_at);
