-- Roles granted to accounts on tenant subtrees, within a line ('*' = all).
-- The Casbin model (policies/model.conf) reads them as
-- `p, ACCOUNT, TENANT, LINE, ROLE`.
CREATE TABLE grants (
    account_id  TEXT    NOT NULL REFERENCES accounts (id),
    tenant_path TEXT    NOT NULL,
    line        TEXT    NOT NULL,
    role        TEXT    NOT NULL,
    granted_by  TEXT    NOT NULL,
    granted_at  INTEGER NOT NULL,
    PRIMARY KEY (account_id, tenant_path, line, role)
);
CREATE INDEX grants_tenant ON grants (tenant_path);

-- Changes with every grant change, so each node knows when to reload.
CREATE TABLE grants_version (
    id      INTEGER NOT NULL PRIMARY KEY CHECK (id = 1),
    version BIGINT  NOT NULL
);
INSERT INTO grants_version (id, version) VALUES (1, 0);
