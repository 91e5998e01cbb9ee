-- Tree revisions: a change of the tenant tree is one stored, signed
-- revision that every node loads, instead of each node's start writing its
-- own tenants/ directory into the database.

-- A moved node keeps its code under a new path while its old row stays,
-- retired: codes are unique among active nodes only.
ALTER TABLE tenants DROP CONSTRAINT IF EXISTS tenants_code_key;
CREATE UNIQUE INDEX tenants_active_code ON tenants (code) WHERE active;

-- Platform data, not tenant data: read and written by the owning role only.
CREATE TABLE tenant_revisions (
    revision   BIGINT NOT NULL PRIMARY KEY,
    -- SM3 of the sources (file names and texts, in name order), hex.
    digest     TEXT   NOT NULL,
    -- The configuration files as JSON: [{"name": …, "text": …}, …].
    sources    TEXT   NOT NULL,
    -- The platform key's SM2 signature over revision and digest, hex; NULL
    -- when applied by a node that has no platform key.
    signature  TEXT,
    -- The plan that was applied, as JSON.
    changes    TEXT   NOT NULL,
    applied_by TEXT   NOT NULL,
    applied_at BIGINT NOT NULL
);
-- "Is this directory an earlier revision?" at every start.
CREATE INDEX tenant_revisions_digest ON tenant_revisions (digest, revision);
