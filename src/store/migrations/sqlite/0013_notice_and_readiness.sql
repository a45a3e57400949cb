-- A listed collection is owed from its effective date, set by DAP when it lists: by
-- default the listing day plus the definition's notice. Versions listed before this
-- column have none, and were owed from the day they were listed.
ALTER TABLE collection_versions ADD COLUMN effective_from TEXT;

-- Dry runs: a provider tries a file, or Tally tries its source, before a collection is owed
-- or before sending a period. Nothing of the file is kept and no run enters the ledger;
-- only the outcome is recorded here, so that DAP sees who is ready. Append-only.
CREATE TABLE readiness_checks (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    collection      TEXT NOT NULL,
    provider        TEXT NOT NULL,
    period          TEXT NOT NULL,
    -- file or source
    tried           TEXT NOT NULL,
    passed          BOOLEAN NOT NULL,
    rows_in         BIGINT NOT NULL,
    rows_accepted   BIGINT NOT NULL,
    rows_rejected   BIGINT NOT NULL,
    -- the report's first line: why it failed, or what passed
    summary         TEXT NOT NULL,
    tried_by        TEXT NOT NULL,
    tried_at        TEXT NOT NULL
);
CREATE INDEX readiness_checks_by_collection ON readiness_checks (collection, provider);
