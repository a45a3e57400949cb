-- The validation report of every run that read an extract, landed or rejected, so that a
-- provider can see why a rejected extract was turned away, not only that it was.

CREATE TABLE run_reports (
    run_id  BIGINT PRIMARY KEY REFERENCES runs (id),
    report  JSONB NOT NULL
);
