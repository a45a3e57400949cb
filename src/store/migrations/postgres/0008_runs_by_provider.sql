-- A provider's runs, newest first: what its dashboard and the runs API read on every request.
CREATE INDEX runs_by_provider ON runs (provider, id);
