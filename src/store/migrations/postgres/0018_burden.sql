-- When each provider joined the register, so that the burden a provider import adds is
-- attributed to it (an adjustment) on the day it happened. Providers registered before
-- this column have none, and count as always registered.
ALTER TABLE providers ADD COLUMN registered_at TIMESTAMPTZ;

-- Burden reports DAP filed: a dated snapshot of the progress report as recorded up to its
-- as-of day, kept as the JSON every download of it is written from. Append-only.
CREATE TABLE burden_reports (
    id          BIGSERIAL PRIMARY KEY,
    as_of       DATE NOT NULL,
    filed_by    TEXT NOT NULL,
    filed_at    TIMESTAMPTZ NOT NULL,
    sha256      TEXT NOT NULL,
    body        TEXT NOT NULL
);

CREATE FUNCTION burden_reports_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'filed burden reports are kept as filed';
END;
$$;

CREATE TRIGGER burden_reports_append_only
    BEFORE UPDATE OR DELETE ON burden_reports
    FOR EACH ROW EXECUTE FUNCTION burden_reports_append_only();

-- The time a provider says a submission actually took, in minutes: it replaces the
-- estimate for that period in the achieved burden, and its median by way of sending is
-- shown to DAP beside the listing's minutes. Append-only: the newest for a period counts.
CREATE TABLE recorded_times (
    id           BIGSERIAL PRIMARY KEY,
    collection   TEXT NOT NULL,
    provider     TEXT NOT NULL,
    period       TEXT NOT NULL,
    minutes      DOUBLE PRECISION NOT NULL,
    recorded_by  TEXT NOT NULL,
    recorded_at  TIMESTAMPTZ NOT NULL
);
CREATE INDEX recorded_times_by_key ON recorded_times (collection, provider, period);

-- Each provider's first upload and first pull of each collection, which the burden
-- accounts read on every view, come from this index rather than the whole ledger.
CREATE INDEX runs_by_arrival ON runs (collection, provider, arrived, finished_at);
