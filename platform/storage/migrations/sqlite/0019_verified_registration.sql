-- Verified registration; see the PostgreSQL migration.
ALTER TABLE accounts ADD COLUMN verified_at INTEGER;
ALTER TABLE accounts ADD COLUMN verification TEXT;
UPDATE accounts SET verified_at = created_at, verification = 'before-verification';
DROP INDEX accounts_subject;
CREATE UNIQUE INDEX accounts_subject_verified ON accounts (kind, subject)
    WHERE subject IS NOT NULL AND verified_at IS NOT NULL;
CREATE INDEX accounts_subject ON accounts (kind, subject) WHERE subject IS NOT NULL;
CREATE TABLE verification_requests (
    state         TEXT    NOT NULL PRIMARY KEY,
    account_id    TEXT    NOT NULL REFERENCES accounts (id),
    nonce         TEXT    NOT NULL,
    binding_sm3   TEXT    NOT NULL,
    pkce_verifier TEXT    NOT NULL,
    created_at    INTEGER NOT NULL
);
