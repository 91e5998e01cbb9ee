-- Public lotteries (摇号) over a district's waiting list (seed 003 row 127,
-- L1410–1412; issue 20): the published text (the seed is its SM3 digest),
-- the seed, the ranking (JSON), who drew it and when. Written once, never
-- changed: `civitas lottery verify` recomputes a draw from what is read
-- back.
CREATE TABLE lotteries (
    id          TEXT COLLATE "C" NOT NULL PRIMARY KEY,
    tenant_path TEXT COLLATE "C" NOT NULL,
    service     TEXT   NOT NULL,
    project     TEXT   NOT NULL,
    unit_type   TEXT   NOT NULL,
    published   TEXT   NOT NULL,
    seed        TEXT   NOT NULL,
    ranking     TEXT   NOT NULL,
    drawn_by    TEXT   NOT NULL,
    drawn_at    BIGINT NOT NULL
);
CREATE INDEX lotteries_tenant ON lotteries (tenant_path, drawn_at);
-- Each case is drawn once: the primary key refuses a second lottery over
-- an application another one drew.
CREATE TABLE lottery_entries (
    case_id     TEXT COLLATE "C" NOT NULL PRIMARY KEY REFERENCES cases (id),
    tenant_path TEXT COLLATE "C" NOT NULL,
    lottery_id  TEXT COLLATE "C" NOT NULL REFERENCES lotteries (id),
    position    INTEGER NOT NULL,
    drawn       BOOLEAN NOT NULL
);
-- The waiting list's "not drawn yet": the subtree's entries.
CREATE INDEX lottery_entries_tenant ON lottery_entries (tenant_path, case_id);

GRANT SELECT, INSERT ON lotteries, lottery_entries TO civitas_app;
ALTER TABLE lotteries ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_subtree ON lotteries
    USING (civitas_in_scope(tenant_path)) WITH CHECK (civitas_in_scope(tenant_path));
ALTER TABLE lottery_entries ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_subtree ON lottery_entries
    USING (civitas_in_scope(tenant_path)) WITH CHECK (civitas_in_scope(tenant_path));
