-- The residents a tenant serves (applicants, beneficiaries). Personal data
-- is sealed with the tenant's data key (SM4-GCM, version in key_version);
-- id numbers and phones also carry an HMAC-SM3 blind index for lookups.
CREATE TABLE residents (
    id                TEXT COLLATE "C" NOT NULL PRIMARY KEY,
    tenant_path       TEXT COLLATE "C" NOT NULL,
    name              TEXT   NOT NULL,
    key_version       BIGINT NOT NULL,
    id_number         TEXT   NOT NULL,
    id_number_index   TEXT   NOT NULL,
    phone             TEXT,
    phone_index       TEXT,
    bank_account      TEXT,
    address           TEXT,
    created_at        BIGINT NOT NULL,
    updated_at        BIGINT NOT NULL,
    UNIQUE (tenant_path, id_number_index)
);
CREATE INDEX residents_tenant ON residents (tenant_path, key_version);
CREATE INDEX residents_id_number ON residents (id_number_index, tenant_path);
CREATE INDEX residents_phone ON residents (phone_index, tenant_path);

GRANT SELECT, INSERT, UPDATE ON residents TO civitas_app;
ALTER TABLE residents ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_subtree ON residents
    USING (civitas_in_scope(tenant_path)) WITH CHECK (civitas_in_scope(tenant_path));
