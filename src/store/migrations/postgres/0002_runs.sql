-- The run ledger: one row per attempt to pull one (collection, provider, period).

CREATE TABLE runs (
    id              BIGSERIAL PRIMARY KEY,
    collection      TEXT COLLATE "C" NOT NULL,
    provider        TEXT COLLATE "C" NOT NULL,
    period          TEXT COLLATE "C" NOT NULL,
    attempt         BIGINT NOT NULL,
    status          TEXT NOT NULL,
    instance        TEXT,
    lease_until     TIMESTAMPTZ,
    started_at      TIMESTAMPTZ NOT NULL,
    finished_at     TIMESTAMPTZ,
    rows_in         BIGINT,
    rows_accepted   BIGINT,
    rows_rejected   BIGINT,
    bytes           BIGINT,
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
    collection      TEXT COLLATE "C" NOT NULL,
    provider        TEXT COLLATE "C" NOT NULL,
    period          TEXT COLLATE "C" NOT NULL,
    claims          BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (collection, provider, period)
);
