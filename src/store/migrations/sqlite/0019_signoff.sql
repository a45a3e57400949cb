-- Sign-off of pulled periods. A period pulled from a provider's source counts as received
-- at once, but the provider vouches for it: either by a standing sign-off of the collection
-- (who gave it, for periods from which day, until it is revoked) or period by period. An
-- upload or a nil return is the provider's own act and needs no sign-off.
CREATE TABLE standing_signoffs (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    collection  TEXT NOT NULL,
    provider    TEXT NOT NULL,
    -- It covers the periods that start on or after this day.
    from_day    TEXT NOT NULL,
    given_by    TEXT NOT NULL,
    given_at    TEXT NOT NULL,
    revoked_by  TEXT,
    revoked_at  TEXT
);
-- At most one in force for a provider's collection.
CREATE UNIQUE INDEX standing_signoffs_in_force
    ON standing_signoffs (collection, provider) WHERE revoked_at IS NULL;

-- One pulled version signed off by the provider. A newer version of the period is a new
-- extract, and is signed off afresh unless a standing sign-off covers it.
CREATE TABLE period_signoffs (
    collection  TEXT NOT NULL,
    provider    TEXT NOT NULL,
    period      TEXT NOT NULL,
    version     INTEGER NOT NULL,
    signed_by   TEXT NOT NULL,
    signed_at   TEXT NOT NULL,
    PRIMARY KEY (collection, provider, period, version)
);
