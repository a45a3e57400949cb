-- The collections register: collections, their versions, licence numbers, the decision log,
-- providers and DAP's burden budget.

CREATE TABLE collections (
    slug            TEXT PRIMARY KEY,
    status          TEXT NOT NULL,
    licence_number  TEXT,
    created_at      TEXT NOT NULL
);

CREATE TABLE collection_versions (
    slug            TEXT NOT NULL REFERENCES collections (slug),
    version         INTEGER NOT NULL,
    status          TEXT NOT NULL,
    definition      TEXT NOT NULL,
    source_toml     TEXT NOT NULL,
    sha256          TEXT NOT NULL,
    source_file     TEXT,
    proposed_by     TEXT NOT NULL,
    proposed_at     TEXT NOT NULL,
    findings        TEXT NOT NULL,
    listed_at       TEXT,
    expires_at      TEXT,
    PRIMARY KEY (slug, version)
);

-- At most one version of a collection is in force.
CREATE UNIQUE INDEX collection_versions_one_listed
    ON collection_versions (slug) WHERE status = 'listed';

-- Numbers handed out in order. Taking the next one is an UPDATE of one row, which
-- serialises concurrent listings on both backends (MAX()+1 would race on PostgreSQL).
CREATE TABLE counters (
    name            TEXT PRIMARY KEY,
    value           INTEGER NOT NULL
);
-- 'register' counts changes that the creep checks read (decisions, the budget): a decision
-- made on checks of an older register is refused and checked again.
INSERT INTO counters (name, value) VALUES ('licence', 0), ('register', 0);

-- Licence numbers are never reused, so every number ever assigned is kept here.
CREATE TABLE licences (
    number          INTEGER PRIMARY KEY,
    slug            TEXT NOT NULL REFERENCES collections (slug),
    assigned_at     TEXT NOT NULL
);

CREATE TABLE decisions (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    slug            TEXT NOT NULL REFERENCES collections (slug),
    version         INTEGER,
    action          TEXT NOT NULL,
    actor           TEXT NOT NULL,
    reason          TEXT NOT NULL,
    at              TEXT NOT NULL,
    licence_number  TEXT,
    findings        TEXT NOT NULL,
    overrides       TEXT NOT NULL
);

CREATE INDEX decisions_by_slug ON decisions (slug, id);

CREATE TRIGGER decisions_append_only_update BEFORE UPDATE ON decisions
BEGIN
    SELECT RAISE(ABORT, 'the decision log is append-only');
END;

CREATE TRIGGER decisions_append_only_delete BEFORE DELETE ON decisions
BEGIN
    SELECT RAISE(ABORT, 'the decision log is append-only');
END;

CREATE TABLE providers (
    code            TEXT PRIMARY KEY,
    name            TEXT NOT NULL,
    kind            TEXT NOT NULL,
    region          TEXT NOT NULL,
    icb             TEXT,
    local_authority TEXT,
    opened_on       TEXT,
    closed_on       TEXT,
    successor       TEXT
);

-- Each change to the budget is a new row; the newest is in force.
CREATE TABLE budget_settings (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    cap_hours       REAL,
    baseline_hours  REAL,
    baseline_date   TEXT,
    goal_hours      REAL,
    target_date     TEXT,
    set_by          TEXT NOT NULL,
    reason          TEXT NOT NULL,
    set_at          TEXT NOT NULL
);
