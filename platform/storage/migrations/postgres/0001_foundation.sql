-- The administrative tree, as loaded from tenants/. Not tenant-owned data:
-- it is the registry of tenants itself, readable by everyone.
-- Paths use the "C" collation so that a subtree is the byte-wise range
-- [path, path || '0') and an ordinary btree index serves it.
CREATE TABLE tenants (
    path        TEXT COLLATE "C" NOT NULL PRIMARY KEY,
    code        TEXT        NOT NULL UNIQUE,
    parent_path TEXT COLLATE "C",
    level       TEXT        NOT NULL,
    name        TEXT        NOT NULL,
    name_en     TEXT        NOT NULL,
    slug        TEXT        NOT NULL,
    slug_path   TEXT        NOT NULL,
    lines       JSONB       NOT NULL,
    depth       INTEGER     NOT NULL,
    active      BOOLEAN     NOT NULL DEFAULT TRUE,
    source      TEXT        NOT NULL,
    updated_at  TIMESTAMPTZ NOT NULL
);
CREATE UNIQUE INDEX tenants_active_slug_path ON tenants (slug_path) WHERE active;

CREATE TABLE tenant_settings (
    tenant_path TEXT COLLATE "C" NOT NULL,
    key         TEXT        NOT NULL,
    value       JSONB       NOT NULL,
    updated_at  TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (tenant_path, key)
);

CREATE TABLE platform_meta (
    key        TEXT        NOT NULL PRIMARY KEY,
    value      TEXT        NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL
);

-- Row-level security: the second wall between tenants.
--
-- Request work runs in transactions that switch to the civitas_app role and
-- set civitas.tenant_path (both transaction-local). Policies admit only rows
-- of that path's subtree, so a query that forgets its tenant filter sees
-- nothing of other tenants, and with no path set it sees nothing at all.
-- Platform tasks (loading tenants/) run as the owning role, which RLS does
-- not restrict.
DO $$
BEGIN
    CREATE ROLE civitas_app NOLOGIN;
EXCEPTION
    -- Created by another schema's migration, perhaps concurrently.
    WHEN duplicate_object OR unique_violation THEN NULL;
END
$$;

DO $$
BEGIN
    IF NOT pg_has_role(current_user, 'civitas_app', 'MEMBER') THEN
        EXECUTE format('GRANT civitas_app TO %I', current_user);
    END IF;
    EXECUTE format('GRANT USAGE ON SCHEMA %I TO civitas_app', current_schema());
END
$$;

-- Whether a row's tenant path lies in the transaction's tenant subtree.
CREATE FUNCTION civitas_in_scope(row_path TEXT) RETURNS BOOLEAN
LANGUAGE sql STABLE AS $$
    SELECT row_path COLLATE "C" >= current_setting('civitas.tenant_path', TRUE)
       AND row_path COLLATE "C" < current_setting('civitas.tenant_path', TRUE) || '0'
$$;

GRANT SELECT ON tenants, platform_meta TO civitas_app;
GRANT SELECT, INSERT, UPDATE, DELETE ON tenant_settings TO civitas_app;

ALTER TABLE tenant_settings ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_subtree ON tenant_settings
    USING (civitas_in_scope(tenant_path))
    WITH CHECK (civitas_in_scope(tenant_path));
