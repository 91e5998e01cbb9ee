-- Registration that proves who registers: a self-registered citizen or
-- enterprise account is unverified until a real-name check passes (an OpenID
-- provider, or an officer in person); only then may it act, and only a
-- verified account holds its identity for good.
ALTER TABLE accounts ADD COLUMN verified_at BIGINT;
ALTER TABLE accounts ADD COLUMN verification TEXT;
-- Accounts that exist were made by administrators, the demo seed, or
-- registrations before verification existed: they keep what they had.
UPDATE accounts SET verified_at = created_at, verification = 'before-verification';

-- Several unverified accounts may claim one identity; one verified account
-- holds it.
DROP INDEX accounts_subject;
CREATE UNIQUE INDEX accounts_subject_verified ON accounts (kind, subject)
    WHERE subject IS NOT NULL AND verified_at IS NOT NULL;
CREATE INDEX accounts_subject ON accounts (kind, subject) WHERE subject IS NOT NULL;

-- A verification begun with an OpenID provider, until its callback (any
-- node may receive it). Platform data: read and written by the owning role.
CREATE TABLE verification_requests (
    state         TEXT   NOT NULL PRIMARY KEY,
    account_id    TEXT   NOT NULL REFERENCES accounts (id),
    nonce         TEXT   NOT NULL,
    -- SM3 of the secret in the cookie of the browser that began it: the
    -- callback is finished only in that browser.
    binding_sm3   TEXT   NOT NULL,
    pkce_verifier TEXT   NOT NULL,
    created_at    BIGINT NOT NULL
);
