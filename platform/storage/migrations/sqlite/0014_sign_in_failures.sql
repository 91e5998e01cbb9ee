-- Failed sign-ins by the username tried; see the PostgreSQL migration.
CREATE TABLE sign_in_failures (
    username     TEXT    NOT NULL PRIMARY KEY,
    failures     INTEGER NOT NULL,
    window_start INTEGER NOT NULL,
    locked_until INTEGER
);
CREATE INDEX sign_in_failures_window ON sign_in_failures (window_start);

INSERT INTO sign_in_failures (username, failures, window_start, locked_until)
    SELECT username, 0, 0, locked_until FROM accounts WHERE locked_until IS NOT NULL;
ALTER TABLE accounts DROP COLUMN failed_attempts;
ALTER TABLE accounts DROP COLUMN locked_until;
