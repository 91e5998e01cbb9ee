-- Tenant data keys (SM4) and blind-index keys (HMAC-SM3), each stored only
-- wrapped by the platform's master key. A tenant has one active data key;
-- during a rotation the previous one is 'retiring' (still opens records),
-- and once no record uses it, 'retired' with its wrapped bytes destroyed.
-- Index keys belong to a root tenant, so one lookup covers any subtree.
CREATE TABLE tenant_keys (
    tenant_path   TEXT COLLATE "C" NOT NULL,
    purpose       TEXT   NOT NULL CHECK (purpose IN ('data', 'index')),
    version       BIGINT NOT NULL,
    state         TEXT   NOT NULL CHECK (state IN ('active', 'retiring', 'retired')),
    master_key_id TEXT   NOT NULL,
    wrapped_key   TEXT,                      -- hex; NULL once retired
    created_at    BIGINT NOT NULL,           -- microseconds since the Unix epoch
    retired_at    BIGINT,
    PRIMARY KEY (tenant_path, purpose, version)
);
CREATE UNIQUE INDEX tenant_keys_one_active ON tenant_keys (tenant_path, purpose)
    WHERE state = 'active';

-- Whether `key_path` is the scope's own node or one of its ancestors.
CREATE FUNCTION civitas_in_lineage(key_path TEXT) RETURNS BOOLEAN
LANGUAGE sql STABLE AS $$
    SELECT current_setting('civitas.tenant_path', TRUE) = key_path
        OR starts_with(current_setting('civitas.tenant_path', TRUE), key_path || '/')
$$;

-- The application reads its subtree's keys and its roots' index keys, and
-- may lock a key row (FOR SHARE needs an UPDATE grant) so that a rotation
-- cannot retire a key a writer is using; it can change nothing: keys are
-- provisioned and rotated by the platform's own role.
GRANT SELECT, UPDATE (state) ON tenant_keys TO civitas_app;
ALTER TABLE tenant_keys ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_keys_read ON tenant_keys FOR SELECT
    USING (civitas_in_scope(tenant_path)
           OR (purpose = 'index' AND civitas_in_lineage(tenant_path)));
CREATE POLICY tenant_keys_lock ON tenant_keys FOR UPDATE
    USING (civitas_in_scope(tenant_path)) WITH CHECK (FALSE);
