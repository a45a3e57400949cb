-- National returns are licensed like collections. Each text of a return's query (its
-- queries/<name>.sql with the sidecar beside it) is a version; the scheduled builder uses
-- only the version DAP listed, so a changed query is not used until DAP lists it. A
-- return keeps its licence number across versions.
CREATE TABLE query_versions (
    name            TEXT NOT NULL,
    version         INTEGER NOT NULL,
    sql_text        TEXT NOT NULL,
    sidecar         TEXT NOT NULL,
    sha256          TEXT NOT NULL,
    -- proposed, listed, rejected or superseded
    status          TEXT NOT NULL,
    licence_number  TEXT,
    proposed_by     TEXT NOT NULL,
    proposed_at     TEXT NOT NULL,
    decided_by      TEXT,
    decided_at      TEXT,
    reason          TEXT,
    PRIMARY KEY (name, version)
);

-- At most one version of a return's query is in force.
CREATE UNIQUE INDEX query_versions_one_listed ON query_versions (name) WHERE status = 'listed';

INSERT INTO counters (name, value) VALUES ('query_licence', 0);
