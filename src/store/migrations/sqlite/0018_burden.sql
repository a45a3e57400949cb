-- When each provider joined the register, so that the burden a provider import adds is
-- attributed to it (an adjustment) on the day it happened. Providers registered before
-- this column have none, and count as always registered.
ALTER TABLE providers ADD COLUMN registered_at TEXT;

-- Burden reports DAP filed: a dated snapshot of the progress report as recorded up to its
-- as-of day, kept as the JSON every download of it is written from. Append-only.
CREATE TABLE burden_reports (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    as_of       TEXT NOT NULL,
    filed_by    TEXT NOT NULL,
    filed_at    TEXT NOT NULL,
    sha256      TEXT NOT NULL,
    body        TEXT NOT NULL
);

CREATE TRIGGER burden_reports_append_only_update BEFORE UPDATE ON burden_reports
BEGIN
    SELECT RAISE(ABORT, 'filed burden reports are kept as filed');
END;

CREATE TRIGGER burden_reports_append_only_delete BEFORE DELETE ON burden_reports
BEGIN
    SELECT RAISE(ABORT, 'filed burden reports are kept as filed');
END;

-- The time a provider says a submission actually took, in minutes: it replaces the
-- estimate for that period in the achieved burden, and its median by way of sending is
-- shown to DAP beside the listing's minutes. Append-only: the newest for a period counts.
CREATE TABLE recorded_times (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    collection   TEXT NOT NULL,
    provider     TEXT NOT NULL,
    period       TEXT NOT NULL,
    minutes      REAL NOT NULL,
    recorded_by  TEXT NOT NULL,
    recorded_at  TEXT NOT NULL
);
CREATE INDEX recorded_times_by_key ON recorded_times (collection, provider, period);

-- Each provider's first upload and first pull of each collection, which the burden
-- accounts read on every view, come from this index rather than the whole ledger.
CREATE INDEX runs_by_arrival ON runs (collection, provider, arrived, finished_at);
