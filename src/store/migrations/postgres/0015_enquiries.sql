-- Providers' questions about a collection, and DAP's answers; an answer DAP publishes is
-- the collection's FAQ, without the provider's name. Counts per collection show DAP where
-- a collection confuses people.
CREATE TABLE enquiries (
    id           BIGSERIAL PRIMARY KEY,
    collection   TEXT NOT NULL,
    provider     TEXT NOT NULL,
    asked_by     TEXT NOT NULL,
    question     TEXT NOT NULL,
    asked_at     TIMESTAMPTZ NOT NULL,
    answer       TEXT,
    answered_by  TEXT,
    answered_at  TIMESTAMPTZ,
    published    BOOLEAN NOT NULL DEFAULT FALSE
);
CREATE INDEX enquiries_by_collection ON enquiries (collection);
