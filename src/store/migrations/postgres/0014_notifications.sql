-- Whom to tell: each provider's contact addresses, from the providers file or set on its
-- page. A provider with none is never e-mailed (its page still says everything).
CREATE TABLE provider_contacts (
    provider    TEXT NOT NULL,
    address     TEXT NOT NULL,
    PRIMARY KEY (provider, address)
);

-- Every notification Tally sends, or tried to: the notice of a new collection, a reminder
-- before a deadline, an overdue notice, a rejection. Its event key is unique, so nothing is
-- sent twice for the same event, however many instances step at once.
CREATE TABLE notifications (
    id          BIGSERIAL PRIMARY KEY,
    event_key   TEXT NOT NULL UNIQUE,
    kind        TEXT NOT NULL,
    provider    TEXT NOT NULL,
    collection  TEXT NOT NULL,
    period      TEXT,
    recipients  TEXT NOT NULL,
    subject     TEXT NOT NULL,
    -- sending, sent or failed
    status      TEXT NOT NULL,
    error       TEXT,
    at          TIMESTAMPTZ NOT NULL
);
CREATE INDEX notifications_by_time ON notifications (at);
