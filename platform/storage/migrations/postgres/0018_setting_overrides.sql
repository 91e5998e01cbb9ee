-- Settings that change without a restart: a tenant administrator's override
-- of a configured setting at one node (civitas-settings). Tenant data: the
-- write runs in the node's scope, behind row-level security.
CREATE TABLE tenant_setting_overrides (
    tenant_path TEXT COLLATE "C" NOT NULL,
    key         TEXT   NOT NULL,
    value       TEXT   NOT NULL,  -- JSON
    set_by      TEXT   NOT NULL,
    set_at      BIGINT NOT NULL,
    PRIMARY KEY (tenant_path, key)
);
GRANT SELECT, INSERT, UPDATE, DELETE ON tenant_setting_overrides TO civitas_app;
ALTER TABLE tenant_setting_overrides ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_subtree ON tenant_setting_overrides
    USING (civitas_in_scope(tenant_path)) WITH CHECK (civitas_in_scope(tenant_path));

-- Moves with every override change, in the same transaction: each node
-- looks at it every second to know when to reload.
CREATE TABLE settings_version (
    id      INTEGER NOT NULL PRIMARY KEY CHECK (id = 1),
    version BIGINT  NOT NULL
);
INSERT INTO settings_version (id, version) VALUES (1, 0);
GRANT SELECT, UPDATE ON settings_version TO civitas_app;
