-- The collections register: collections, their versions, licence numbers, the decision log,
-- providers and DAP's burden budget.

-- Slugs and codes sort by bytes, as on SQLite, so both backends list things alike.
CREATE TABLE collections (
    slug            TEXT COLLATE "C" PRIMARY KEY,
    status          TEXT NOT NULL,
    licence_number  TEXT,
    created_at      TIMESTAMPTZ NOT NULL
);

CREATE TABLE collection_versions (
    slug            TEXT NOT NULL REFERENCES collections (slug),
    version         BIGINT NOT NULL,
    status          TEXT NOT NULL,
    definition      JSONB NOT NULL,
    source_toml     TEXT NOT NULL,
    sha256          TEXT NOT NULL,
    source_file     TEXT,
    proposed_by     TEXT NOT NULL,
    proposed_at     TIMESTAMPTZ NOT NULL,
    findings        JSONB NOT NULL,
    listed_at       TIMESTAMPTZ,
    expires_at      TIMESTAMPTZ,
    PRIMARY KEY (slug, version)
);

-- At most one version of a collection is in force.
CREATE UNIQUE INDEX collection_versions_one_listed
    ON collection_versions (slug) WHERE status = 'listed';

-- Numbers handed out in order. Taking the next one is an UPDATE of one row, which
-- serialises concurrent listings on both backends (MAX()+1 would race on PostgreSQL).
CREATE TABLE counters (
    name            TEXT PRIMARY KEY,
    value           BIGINT NOT NULL
);
-- 'register' counts changes that the creep checks read (decisions, the budget): a decision
-- made on checks of an older register is refused and checked again.
INSERT INTO counters (name, value) VALUES ('licence', 0), ('register', 0);

-- Licence numbers are never reused, so every number ever assigned is kept here.
CREATE TABLE licences (
    number          BIGINT PRIMARY KEY,
    slug            TEXT NOT NULL REFERENCES collections (slug),
    assigned_at     TIMESTAMPTZ NOT NULL
);

CREATE TABLE decisions (
    id              BIGSERIAL PRIMARY KEY,
    slug            TEXT NOT NULL REFERENCES collections (slug),
    version         BIGINT,
    action          TEXT NOT NULL,
    actor           TEXT NOT NULL,
    reason          TEXT NOT NULL,
    at              TIMESTAMPTZ NOT NULL,
    licence_number  TEXT,
    findings        JSONB NOT NULL,
    overrides       JSONB NOT NULL
);

CREATE INDEX decisions_by_slug ON decisions (slug, id);

CREATE FUNCTION decisions_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'the decision log is append-only';
END;
$$;

CREATE TRIGGER decisions_append_only
    BEFORE UPDATE OR DELETE ON decisions
    FOR EACH ROW EXECUTE FUNCTION decisions_append_only();

CREATE TABLE providers (
    code            TEXT COLLATE "C" PRIMARY KEY,
    name            TEXT NOT NULL,
    kind            TEXT NOT NULL,
    region          TEXT NOT NULL,
    icb             TEXT,
    local_authority TEXT,
    opened_on       DATE,
    closed_on       DATE,
    successor       TEXT
);

-- Each change to the budget is a new row; the newest is in force.
CREATE TABLE budget_settings (
    id              BIGSERIAL PRIMARY KEY,
    cap_hours       DOUBLE PRECISION,
    baseline_hours  DOUBLE PRECISION,
    baseline_date   DATE,
    goal_hours      DOUBLE PRECISION,
    target_date     DATE,
    set_by          TEXT NOT NULL,
    reason          TEXT NOT NULL,
    set_at          TIMESTAMPTZ NOT NULL
);
