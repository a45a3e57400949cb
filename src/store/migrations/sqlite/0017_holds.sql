-- Figures that landed far from their provider's own recent figures: held for the provider
-- to confirm, or to correct by sending the period again. A hold belongs to one version; a
-- newer version of the period is checked afresh, and the hold on the old one is moot.
CREATE TABLE holds (
    collection    TEXT NOT NULL,
    provider      TEXT NOT NULL,
    period        TEXT NOT NULL,
    version       INTEGER NOT NULL,
    -- Held figures in all; at most 200 are kept in held_figures.
    figures       INTEGER NOT NULL,
    held_at       TEXT NOT NULL,
    confirmed_by  TEXT,
    confirmed_at  TEXT,
    note          TEXT,
    PRIMARY KEY (collection, provider, period, version)
);
CREATE INDEX holds_by_provider ON holds (provider);

CREATE TABLE held_figures (
    collection  TEXT NOT NULL,
    provider    TEXT NOT NULL,
    period      TEXT NOT NULL,
    version     INTEGER NOT NULL,
    row_key     TEXT NOT NULL,
    item        TEXT NOT NULL,
    value       REAL NOT NULL,
    median      REAL NOT NULL,
    low         REAL NOT NULL,
    high        REAL NOT NULL,
    periods     INTEGER NOT NULL,
    score       REAL NOT NULL,
    reason      TEXT NOT NULL CHECK (reason IN ('zero', 'outlier')),
    PRIMARY KEY (collection, provider, period, version, row_key, item),
    FOREIGN KEY (collection, provider, period, version)
        REFERENCES holds (collection, provider, period, version)
);
