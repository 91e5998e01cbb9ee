-- Tree revisions; see the PostgreSQL migration. SQLite cannot drop a column
-- constraint, so the tenants table is rebuilt without UNIQUE on code.
CREATE TABLE tenants_rebuilt (
    path        TEXT    NOT NULL PRIMARY KEY,
    code        TEXT    NOT NULL,
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
INSERT INTO tenants_rebuilt
    SELECT path, code, parent_path, level, name, name_en, slug, slug_path, lines, depth,
           active, source, updated_at
    FROM tenants;
DROP TABLE tenants;
ALTER TABLE tenants_rebuilt RENAME TO tenants;
CREATE UNIQUE INDEX tenants_active_slug_path ON tenants (slug_path) WHERE active;
CREATE UNIQUE INDEX tenants_active_code ON tenants (code) WHERE active;

CREATE TABLE tenant_revisions (
    revision   INTEGER NOT NULL PRIMARY KEY,
    digest     TEXT    NOT NULL,
    sources    TEXT    NOT NULL,
    signature  TEXT,
    changes    TEXT    NOT NULL,
    applied_by TEXT    NOT NULL,
    applied_at INTEGER NOT NULL
);
CREATE INDEX tenant_revisions_digest ON tenant_revisions (digest, revision);
