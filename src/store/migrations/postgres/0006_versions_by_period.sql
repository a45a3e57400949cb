-- A return reads the current versions of one collection for a range of periods; the primary
-- key leads with the provider, so without this index each build scanned every version the
-- collection ever landed (five years of the daily census: 350,000 rows a build).

CREATE INDEX extract_versions_by_period ON extract_versions (collection, period, provider, version);
