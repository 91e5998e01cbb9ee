-- Settings overrides; see the PostgreSQL migration.
CREATE TABLE tenant_setting_overrides (
    tenant_path TEXT    NOT NULL,
    key         TEXT    NOT NULL,
    value       TEXT    NOT NULL,
    set_by      TEXT    NOT NULL,
    set_at      INTEGER NOT NULL,
    PRIMARY KEY (tenant_path, key)
);
CREATE TABLE settings_version (
    id      INTEGER NOT NULL PRIMARY KEY CHECK (id = 1),
    version INTEGER NOT NULL
);
INSERT INTO settings_version (id, version) VALUES (1, 0);
