-- The run ledger: one row per attempt to pull one (collection, provider, period).

CREATE TABLE runs (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    collection      TEXT NOT NULL,
    provider        TEXT NOT NULL,
    period          TEXT NOT NULL,
    attempt         INTEGER NOT NULL,
    status          TEXT NOT NULL,
    instance        TEXT,
    lease_until     TEXT,
    started_at      TEXT NOT NULL,
    finished_at     TEXT,
    rows_in         INTEGER,
    rows_accepted   INTEGER,
    rows_rejected   INTEGER,
    bytes           INTEGER,
    raw_sha256      TEXT,
    error           TEXT,
    UNIQUE (collection, provider, period, attempt)
);

-- A run is held by one instance at a time: a second claim of the same key conflicts here.
CREATE UNIQUE INDEX runs_one_running ON runs (collection, provider, period) WHERE status = 'running';
CREATE INDEX runs_by_status ON runs (status, collection, period);

-- One row per run key, locked by every claim of that key, so that two instances deciding
-- at once whether a run is still to be pulled take turns (a missing row cannot be locked).
CREATE TABLE run_keys (
    collection      TEXT NOT NULL,
    provider        TEXT NOT NULL,
    period          TEXT NOT NULL,
    claims          INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (collection, provider, period)
);
