-- Who may use the web pages and the API, their signed-in sessions, and the audit log.
--
-- A token is shown once when it is made; only the SHA-256 of its secret part is kept, so a
-- copy of this database lets nobody in. Sessions keep the SHA-256 of their cookie likewise.

CREATE TABLE api_tokens (
    id              TEXT PRIMARY KEY,
    name            TEXT NOT NULL,
    role            TEXT NOT NULL CHECK (role IN ('dap', 'provider', 'dhsc', 'admin')),
    -- Provider codes a provider token is scoped to, comma-separated; empty for other roles.
    providers       TEXT NOT NULL DEFAULT '',
    secret_sha256   TEXT NOT NULL,
    created_by      TEXT NOT NULL,
    created_at      TIMESTAMPTZ NOT NULL,
    expires_at      TIMESTAMPTZ,
    revoked_at      TIMESTAMPTZ
);

CREATE TABLE web_sessions (
    id_sha256       TEXT PRIMARY KEY,
    token_id        TEXT NOT NULL REFERENCES api_tokens (id),
    created_at      TIMESTAMPTZ NOT NULL,
    expires_at      TIMESTAMPTZ NOT NULL
);

-- Append-only: every governance action, upload, download, sign-in and refusal, with who and when.
CREATE TABLE audit_log (
    id              BIGSERIAL PRIMARY KEY,
    at              TIMESTAMPTZ NOT NULL,
    actor           TEXT NOT NULL,
    role            TEXT NOT NULL,
    action          TEXT NOT NULL,
    target          TEXT NOT NULL,
    outcome         TEXT NOT NULL,
    detail          TEXT NOT NULL
);
CREATE INDEX audit_log_by_time ON audit_log (at);
