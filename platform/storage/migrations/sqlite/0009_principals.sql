-- Who a citizen or enterprise account is: for an enterprise its unified
-- social credit code (public register data); for a citizen only the blind
-- index of the resident id number (HMAC-SM3): the number itself lives
-- sealed in the resident register, not with the sign-in account. One
-- account per person or enterprise.
ALTER TABLE accounts ADD COLUMN subject TEXT;
CREATE UNIQUE INDEX accounts_subject ON accounts (kind, subject) WHERE subject IS NOT NULL;

-- API keys of service accounts (machine clients such as a district's own
-- system). The secret is 256 random bits, so its SM3 digest is stored:
-- stretching protects guessable secrets, not random ones.
CREATE TABLE service_keys (
    id           TEXT    NOT NULL PRIMARY KEY,
    account_id   TEXT    NOT NULL REFERENCES accounts (id),
    name         TEXT    NOT NULL,
    tenant_path  TEXT    NOT NULL,
    actions      TEXT    NOT NULL,
    lines        TEXT    NOT NULL,
    allowed_ips  TEXT    NOT NULL,
    secret_sm3   TEXT    NOT NULL,
    created_by   TEXT    NOT NULL,
    created_at   INTEGER NOT NULL,
    expires_at   INTEGER,
    revoked_at   INTEGER,
    revoked_by   TEXT,
    last_used_at INTEGER
);
CREATE INDEX service_keys_tenant ON service_keys (tenant_path);
