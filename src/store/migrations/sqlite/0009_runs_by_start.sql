-- Runs by when they started: the scheduler reads only the runs of periods still open on
-- every step, so a year of ledger is not read each minute.
CREATE INDEX runs_by_start ON runs (started_at);
