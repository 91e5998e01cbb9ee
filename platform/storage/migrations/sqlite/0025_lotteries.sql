-- Public lotteries over a district's waiting list (see the PostgreSQL
-- migration): civitas-lottery.
CREATE TABLE lotteries (
    id            TEXT    NOT NULL PRIMARY KEY,
    tenant_path   TEXT    NOT NULL,
    service       TEXT    NOT NULL,
    project       TEXT    NOT NULL,
    unit_type     TEXT    NOT NULL,
    published     TEXT    NOT NULL,
    published_sm3 TEXT    NOT NULL,
    published_by  TEXT    NOT NULL,
    published_at  INTEGER NOT NULL,
    value         TEXT,
    seed          TEXT,
    ranking       TEXT,
    drawn_by      TEXT,
    drawn_at      INTEGER,
    CHECK ((value IS NULL AND seed IS NULL AND ranking IS NULL AND drawn_by IS NULL AND drawn_at IS NULL)
        OR (value IS NOT NULL AND seed IS NOT NULL AND ranking IS NOT NULL AND drawn_by IS NOT NULL AND drawn_at IS NOT NULL))
);
-- A drawn lottery never changes, whatever the application does.
CREATE TRIGGER lotteries_drawn_once BEFORE UPDATE ON lotteries
WHEN OLD.drawn_at IS NOT NULL
BEGIN
    SELECT RAISE(ABORT, 'a drawn lottery does not change');
END;
CREATE TRIGGER lotteries_not_deleted BEFORE DELETE ON lotteries
BEGIN
    SELECT RAISE(ABORT, 'a lottery is not deleted');
END;
CREATE INDEX lotteries_tenant ON lotteries (tenant_path, published_at);
CREATE TABLE lottery_entries (
    case_id     TEXT NOT NULL PRIMARY KEY REFERENCES cases (id),
    tenant_path TEXT NOT NULL,
    lottery_id  TEXT NOT NULL REFERENCES lotteries (id)
);
CREATE INDEX lottery_entries_tenant ON lottery_entries (tenant_path, case_id);
