-- Every landed version of an extract. The newest version of a run key is its current one.

CREATE TABLE extract_versions (
    collection      TEXT COLLATE "C" NOT NULL,
    provider        TEXT COLLATE "C" NOT NULL,
    period          TEXT COLLATE "C" NOT NULL,
    version         BIGINT NOT NULL,
    run_id          BIGINT NOT NULL REFERENCES runs (id),
    path            TEXT NOT NULL,
    raw_path        TEXT NOT NULL,
    raw_sha256      TEXT NOT NULL,
    bytes           BIGINT NOT NULL,
    rows_accepted   BIGINT NOT NULL,
    rows_rejected   BIGINT NOT NULL,
    report          JSONB NOT NULL,
    landed_at       TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (collection, provider, period, version)
);
