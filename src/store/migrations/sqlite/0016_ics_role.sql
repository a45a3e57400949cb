-- An integrated care system's token: role `ics`, its ICB kept where a provider token keeps
-- its provider codes. SQLite cannot change a CHECK in place, so the tokens table is made
-- anew with the same rows, and the sessions table that refers to it with it (dropping a
-- table that another refers to would break the reference however it is made again).
CREATE TABLE api_tokens_new (
    id              TEXT PRIMARY KEY,
    name            TEXT NOT NULL,
    role            TEXT NOT NULL CHECK (role IN ('dap', 'provider', 'dhsc', 'ics', 'admin')),
    -- Provider codes a provider token is scoped to, comma-separated; the ICB of an ics
    -- token; empty for other roles.
    providers       TEXT NOT NULL DEFAULT '',
    secret_sha256   TEXT NOT NULL,
    created_by      TEXT NOT NULL,
    created_at      TEXT NOT NULL,
    expires_at      TEXT,
    revoked_at      TEXT
);
INSERT INTO api_tokens_new
    (id, name, role, providers, secret_sha256, created_by, created_at, expires_at, revoked_at)
SELECT id, name, role, providers, secret_sha256, created_by, created_at, expires_at, revoked_at
FROM api_tokens;

CREATE TABLE web_sessions_new (
    id_sha256       TEXT PRIMARY KEY,
    token_id        TEXT NOT NULL REFERENCES api_tokens_new (id),
    created_at      TEXT NOT NULL,
    expires_at      TEXT NOT NULL
);
INSERT INTO web_sessions_new (id_sha256, token_id, created_at, expires_at)
SELECT id_sha256, token_id, created_at, expires_at FROM web_sessions;

DROP TABLE web_sessions;
DROP TABLE api_tokens;
-- Renaming a table renames the references to it: the sessions refer to api_tokens again.
ALTER TABLE api_tokens_new RENAME TO api_tokens;
ALTER TABLE web_sessions_new RENAME TO web_sessions;
