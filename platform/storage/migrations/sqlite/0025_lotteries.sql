-- Public lotteries over a district's waiting list (see the PostgreSQL
-- migration): civitas-lottery.
CREATE TABLE lotteries (
    id          TEXT    NOT NULL PRIMARY KEY,
    tenant_path TEXT    NOT NULL,
    service     TEXT    NOT NULL,
    project     TEXT    NOT NULL,
    unit_type   TEXT    NOT NULL,
    published   TEXT    NOT NULL,
    seed        TEXT    NOT NULL,
    ranking     TEXT    NOT NULL,
    drawn_by    TEXT    NOT NULL,
    drawn_at    INTEGER NOT NULL
);
CREATE INDEX lotteries_tenant ON lotteries (tenant_path, drawn_at);
CREATE TABLE lottery_entries (
    case_id     TEXT    NOT NULL PRIMARY KEY REFERENCES cases (id),
    tenant_path TEXT    NOT NULL,
    lottery_id  TEXT    NOT NULL REFERENCES lotteries (id),
    position    INTEGER NOT NULL,
    drawn       BOOLEAN NOT NULL
);
CREATE INDEX lottery_entries_tenant ON lottery_entries (tenant_path, case_id);
