-- Principals who sign in: staff, citizens, enterprises, module developers
-- and service accounts. Usernames are unique across the platform; each
-- account belongs to one tenant (staff also to one line).
CREATE TABLE accounts (
    id                   TEXT COLLATE "C" NOT NULL PRIMARY KEY,
    username             TEXT    NOT NULL UNIQUE,
    kind                 TEXT    NOT NULL CHECK (kind IN ('staff', 'citizen', 'enterprise', 'developer', 'service')),
    tenant_path          TEXT COLLATE "C" NOT NULL,
    line                 TEXT,
    display_name         TEXT    NOT NULL,
    password_hash        TEXT,
    must_change_password BOOLEAN NOT NULL DEFAULT FALSE,
    failed_attempts      BIGINT  NOT NULL DEFAULT 0,
    locked_until         BIGINT,
    disabled             BOOLEAN NOT NULL DEFAULT FALSE,
    created_at           BIGINT  NOT NULL,
    password_changed_at  BIGINT
);
CREATE INDEX accounts_tenant ON accounts (tenant_path, kind);

CREATE TABLE password_history (
    account_id    TEXT COLLATE "C" NOT NULL REFERENCES accounts (id),
    password_hash TEXT   NOT NULL,
    changed_at    BIGINT NOT NULL
);
CREATE INDEX password_history_account ON password_history (account_id, changed_at);

-- Tenant-scoped reads (staff lists) see their subtree; sign-in and account
-- administration are platform work under the owning role.
GRANT SELECT ON accounts TO civitas_app;
ALTER TABLE accounts ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_subtree ON accounts
    USING (civitas_in_scope(tenant_path)) WITH CHECK (civitas_in_scope(tenant_path));
