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
    id           TEXT COLLATE "C" NOT NULL PRIMARY KEY,
    account_id   TEXT COLLATE "C" NOT NULL REFERENCES accounts (id),
    name         TEXT   NOT NULL,
    tenant_path  TEXT COLLATE "C" NOT NULL,
    actions      TEXT   NOT NULL,
    lines        TEXT   NOT NULL,
    allowed_ips  TEXT   NOT NULL,
    secret_sm3   TEXT   NOT NULL,
    created_by   TEXT   NOT NULL,
    created_at   BIGINT NOT NULL,
    expires_at   BIGINT,
    revoked_at   BIGINT,
    revoked_by   TEXT,
    last_used_at BIGINT
);
CREATE INDEX service_keys_tenant ON service_keys (tenant_path);
GRANT SELECT ON service_keys TO civitas_app;
ALTER TABLE service_keys ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_subtree ON service_keys
    USING (civitas_in_scope(tenant_path)) WITH CHECK (civitas_in_scope(tenant_path));
