-- Failed sign-ins, by the username tried, whether or not an account has it:
-- a failure costs the same writes for an unknown name as for a real one, so
-- the database's work does not tell whether an account exists. `failures`
-- counts within the window that started at `window_start`; reaching the
-- threshold sets `locked_until`. Platform data (sign-in precedes any
-- scope), written only by the owning role.
CREATE TABLE sign_in_failures (
    username     TEXT COLLATE "C" NOT NULL PRIMARY KEY,
    failures     BIGINT NOT NULL,
    window_start BIGINT NOT NULL,
    locked_until BIGINT
);
CREATE INDEX sign_in_failures_window ON sign_in_failures (window_start);

-- A lock in force when this migration runs is kept.
INSERT INTO sign_in_failures (username, failures, window_start, locked_until)
    SELECT username, 0, 0, locked_until FROM accounts WHERE locked_until IS NOT NULL;
ALTER TABLE accounts DROP COLUMN failed_attempts;
ALTER TABLE accounts DROP COLUMN locked_until;
