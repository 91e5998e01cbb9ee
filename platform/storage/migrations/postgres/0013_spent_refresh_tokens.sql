-- Refresh tokens already exchanged (SM3 digests), so that one coming back
-- (a copy) is told apart from a token that was never issued: only the
-- former ends the session.
CREATE TABLE spent_refresh_tokens (
    refresh_sm3 TEXT COLLATE "C" NOT NULL PRIMARY KEY,
    session_id  TEXT COLLATE "C" NOT NULL REFERENCES sessions (id),
    spent_at    BIGINT NOT NULL
);
CREATE INDEX spent_refresh_tokens_session ON spent_refresh_tokens (session_id);
