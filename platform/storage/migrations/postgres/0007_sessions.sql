-- Sign-in sessions. The access token names its session; every request
-- checks the session here, so a logout (revoked_at) holds on every node at
-- the next request. Refresh tokens are stored as their SM3 digest only.
CREATE TABLE sessions (
    id            TEXT COLLATE "C" NOT NULL PRIMARY KEY,
    account_id    TEXT COLLATE "C" NOT NULL REFERENCES accounts (id),
    created_at    BIGINT NOT NULL,
    last_seen_at  BIGINT NOT NULL,
    expires_at    BIGINT NOT NULL,
    refresh_sm3   TEXT   NOT NULL,
    revoked_at    BIGINT
);
CREATE INDEX sessions_account ON sessions (account_id);
