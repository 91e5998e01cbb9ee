-- The administrative tree, as loaded from tenants/. Not tenant-owned data:
-- it is the registry of tenants itself, readable by everyone.
CREATE TABLE tenants (
    path        TEXT    NOT NULL PRIMARY KEY,
    code        TEXT    NOT NULL UNIQUE,
    parent_path TEXT,
    level       TEXT    NOT NULL,
    name        TEXT    NOT NULL,
    name_en     TEXT    NOT NULL,
    slug        TEXT    NOT NULL,
    slug_path   TEXT    NOT NULL,
    lines       TEXT    NOT NULL, -- JSON array of line codes
    depth       INTEGER NOT NULL,
    active      BOOLEAN NOT NULL DEFAULT 1,
    source      TEXT    NOT NULL,
    updated_at  TEXT    NOT NULL
);
-- A retired node may leave its slug to a new one.
CREATE UNIQUE INDEX tenants_active_slug_path ON tenants (slug_path) WHERE active;

-- Tenant settings (a district's subsidy amount…). Tenant-owned: the primary
-- key starts with tenant_path, so a subtree is one index range
-- [path, path || '0').
CREATE TABLE tenant_settings (
    tenant_path TEXT NOT NULL,
    key         TEXT NOT NULL,
    value       TEXT NOT NULL, -- JSON
    updated_at  TEXT NOT NULL,
    PRIMARY KEY (tenant_path, key)
);

-- Facts about this installation (for example that the demo data was seeded).
CREATE TABLE platform_meta (
    key        TEXT NOT NULL PRIMARY KEY,
    value      TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
