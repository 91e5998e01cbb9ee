-- The residents a tenant serves; see the PostgreSQL migration.
CREATE TABLE residents (
    id                TEXT    NOT NULL PRIMARY KEY,
    tenant_path       TEXT    NOT NULL,
    name              TEXT    NOT NULL,
    key_version       INTEGER NOT NULL,
    id_number         TEXT    NOT NULL,
    id_number_index   TEXT    NOT NULL,
    phone             TEXT,
    phone_index       TEXT,
    bank_account      TEXT,
    address           TEXT,
    created_at        INTEGER NOT NULL,
    updated_at        INTEGER NOT NULL,
    UNIQUE (tenant_path, id_number_index)
);
CREATE INDEX residents_tenant ON residents (tenant_path, key_version);
CREATE INDEX residents_id_number ON residents (id_number_index, tenant_path);
CREATE INDEX residents_phone ON residents (phone_index, tenant_path);
