-- Each landed run's place in the order runs landed: the counter `settled` moves in the
-- transaction that lands a run, and the run takes its new value. The scheduler keeps the
-- keys it has read and asks each step only for runs past the last mark it saw, instead of
-- reading every run still in the amendment window again. The counter row is locked until
-- the landing commits, so marks commit in order: a reader that sees a mark has seen every
-- mark below it.
ALTER TABLE runs ADD COLUMN settled BIGINT;
UPDATE runs SET settled = id WHERE status IN ('landed', 'late', 'amended');
CREATE INDEX runs_by_settled ON runs (settled);
INSERT INTO counters (name, value) SELECT 'settled', COALESCE(MAX(id), 0) FROM runs;
