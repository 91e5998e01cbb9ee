-- Sign-in sessions. The access token names its session; every request
-- checks the session here, so a logout (revoked_at) holds on every node at
-- the next request. Refresh tokens are stored as their SM3 digest only.
CREATE TABLE sessions (
    id            TEXT    NOT NULL PRIMARY KEY,
    account_id    TEXT    NOT NULL REFERENCES accounts (id),
    created_at    INTEGER NOT NULL,
    last_seen_at  INTEGER NOT NULL,
    expires_at    INTEGER NOT NULL,           -- absolute lifetime
    refresh_sm3   TEXT    NOT NULL,
    revoked_at    INTEGER
);
CREATE INDEX sessions_account ON sessions (account_id);
