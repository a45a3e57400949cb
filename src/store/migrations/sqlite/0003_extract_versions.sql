-- Every landed version of an extract. The newest version of a run key is its current one.

CREATE TABLE extract_versions (
    collection      TEXT NOT NULL,
    provider        TEXT NOT NULL,
    period          TEXT NOT NULL,
    version         INTEGER NOT NULL,
    run_id          INTEGER NOT NULL REFERENCES runs (id),
    path            TEXT NOT NULL,
    raw_path        TEXT NOT NULL,
    raw_sha256      TEXT NOT NULL,
    bytes           INTEGER NOT NULL,
    rows_accepted   INTEGER NOT NULL,
    rows_rejected   INTEGER NOT NULL,
    report          TEXT NOT NULL,
    landed_at       TEXT NOT NULL,
    PRIMARY KEY (collection, provider, period, version)
);
