-- DAP's exceptions to the window in which a period may be sent by hand: from the day its
-- collection was listed to the end of its amendment window. Each lets one provider send a
-- run of periods outside that window until it lapses. Append-only, like the decision log;
-- every grant is in the audit log too.
CREATE TABLE window_exceptions (
    id              BIGSERIAL PRIMARY KEY,
    collection      TEXT NOT NULL,
    provider        TEXT NOT NULL,
    first_period    TEXT NOT NULL,
    last_period     TEXT NOT NULL,
    granted_by      TEXT NOT NULL,
    reason          TEXT NOT NULL,
    granted_at      TIMESTAMPTZ NOT NULL,
    lapses_at       TIMESTAMPTZ NOT NULL
);
CREATE INDEX window_exceptions_by_key ON window_exceptions (collection, provider);
