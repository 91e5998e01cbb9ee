-- Tenant data keys (SM4) and blind-index keys (HMAC-SM3), each stored only
-- wrapped by the platform's master key. See the PostgreSQL migration.
CREATE TABLE tenant_keys (
    tenant_path   TEXT    NOT NULL,
    purpose       TEXT    NOT NULL CHECK (purpose IN ('data', 'index')),
    version       INTEGER NOT NULL,
    state         TEXT    NOT NULL CHECK (state IN ('active', 'retiring', 'retired')),
    master_key_id TEXT    NOT NULL,
    wrapped_key   TEXT,
    created_at    INTEGER NOT NULL,
    retired_at    INTEGER,
    PRIMARY KEY (tenant_path, purpose, version)
);
CREATE UNIQUE INDEX tenant_keys_one_active ON tenant_keys (tenant_path, purpose)
    WHERE state = 'active';
