-- Refresh tokens already exchanged; see the PostgreSQL migration.
CREATE TABLE spent_refresh_tokens (
    refresh_sm3 TEXT    NOT NULL PRIMARY KEY,
    session_id  TEXT    NOT NULL REFERENCES sessions (id),
    spent_at    INTEGER NOT NULL
);
CREATE INDEX spent_refresh_tokens_session ON spent_refresh_tokens (session_id);
