-- 免申即享: population records and entitlements (see the PostgreSQL migration).
CREATE TABLE population_records (
    resident_id      TEXT    NOT NULL PRIMARY KEY REFERENCES residents (id),
    tenant_path      TEXT    NOT NULL,
    person           TEXT    NOT NULL,
    birth_date       TEXT    NOT NULL,
    household        TEXT    NOT NULL CHECK (household IN ('local', 'non-local')),
    disability_grade INTEGER NOT NULL CHECK (disability_grade BETWEEN 0 AND 4),
    deceased         BOOLEAN NOT NULL,
    updated_by       TEXT    NOT NULL,
    updated_at       INTEGER NOT NULL
);
CREATE INDEX population_records_tenant ON population_records (tenant_path, resident_id);
CREATE TABLE entitlements (
    service     TEXT    NOT NULL,
    resident_id TEXT    NOT NULL REFERENCES residents (id),
    tenant_path TEXT    NOT NULL,
    case_id     TEXT REFERENCES cases (id),
    claimed_at  INTEGER NOT NULL,
    PRIMARY KEY (service, resident_id)
);
CREATE INDEX entitlements_tenant ON entitlements (tenant_path, service, resident_id);
