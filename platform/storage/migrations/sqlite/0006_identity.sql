-- Principals who sign in: staff, citizens, enterprises, module developers
-- and service accounts. Usernames are unique across the platform; each
-- account belongs to one tenant (staff also to one line).
CREATE TABLE accounts (
    id                   TEXT    NOT NULL PRIMARY KEY,
    username             TEXT    NOT NULL UNIQUE,
    kind                 TEXT    NOT NULL CHECK (kind IN ('staff', 'citizen', 'enterprise', 'developer', 'service')),
    tenant_path          TEXT    NOT NULL,
    line                 TEXT,
    display_name         TEXT    NOT NULL,
    password_hash        TEXT,
    must_change_password BOOLEAN NOT NULL DEFAULT 0,
    failed_attempts      INTEGER NOT NULL DEFAULT 0,
    locked_until         INTEGER,
    disabled             BOOLEAN NOT NULL DEFAULT 0,
    created_at           INTEGER NOT NULL,
    password_changed_at  INTEGER
);
CREATE INDEX accounts_tenant ON accounts (tenant_path, kind);

-- The previous password hashes of each account (no reuse of the last 5).
CREATE TABLE password_history (
    account_id    TEXT    NOT NULL REFERENCES accounts (id),
    password_hash TEXT    NOT NULL,
    changed_at    INTEGER NOT NULL
);
CREATE INDEX password_history_account ON password_history (account_id, changed_at);
