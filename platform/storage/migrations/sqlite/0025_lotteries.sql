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
    drawn_at      INTEGER
);
CREATE INDEX lotteries_tenant ON lotteries (tenant_path, published_at);
CREATE TABLE lottery_entries (
    case_id     TEXT NOT NULL PRIMARY KEY REFERENCES cases (id),
    tenant_path TEXT NOT NULL,
    lottery_id  TEXT NOT NULL REFERENCES lotteries (id)
);
CREATE INDEX lottery_entries_tenant ON lottery_entries (tenant_path, case_id);
