-- 免申即享 (seed 002 L370–383, L993; issue 20): residents' population
-- records, and the entitlements filed from them without an application.
-- A population record is what the entitlement rules read: the date of birth
-- (from the identity number), the household registration, the disability
-- grade and whether the person is alive.
CREATE TABLE population_records (
    resident_id      TEXT COLLATE "C" NOT NULL PRIMARY KEY REFERENCES residents (id),
    tenant_path      TEXT COLLATE "C" NOT NULL,
    -- The person: the blind index of the identity number (one per root),
    -- the same for every resident record of one person.
    person           TEXT    NOT NULL,
    birth_date       TEXT    NOT NULL,
    household        TEXT    NOT NULL CHECK (household IN ('local', 'non-local')),
    disability_grade BIGINT  NOT NULL CHECK (disability_grade BETWEEN 0 AND 4),
    deceased         BOOLEAN NOT NULL,
    updated_by       TEXT    NOT NULL,
    updated_at       BIGINT  NOT NULL
);
CREATE INDEX population_records_tenant ON population_records (tenant_path, resident_id);
-- One entitlement case per service and resident: claimed before the case is
-- filed (case_id null until then), so no change files it twice.
CREATE TABLE entitlements (
    service     TEXT COLLATE "C" NOT NULL,
    resident_id TEXT COLLATE "C" NOT NULL REFERENCES residents (id),
    tenant_path TEXT COLLATE "C" NOT NULL,
    case_id     TEXT COLLATE "C" REFERENCES cases (id),
    claimed_at  BIGINT NOT NULL,
    PRIMARY KEY (service, resident_id)
);
CREATE INDEX entitlements_tenant ON entitlements (tenant_path, service, resident_id);

GRANT SELECT, INSERT, UPDATE ON population_records TO civitas_app;
GRANT SELECT, INSERT ON entitlements TO civitas_app;
GRANT UPDATE (case_id) ON entitlements TO civitas_app;
ALTER TABLE population_records ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_subtree ON population_records
    USING (civitas_in_scope(tenant_path)) WITH CHECK (civitas_in_scope(tenant_path));
ALTER TABLE entitlements ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_subtree ON entitlements
    USING (civitas_in_scope(tenant_path)) WITH CHECK (civitas_in_scope(tenant_path));
