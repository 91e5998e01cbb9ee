-- Public lotteries (摇号) over a district's waiting list (seed 003 row 127,
-- L1410–1412; issue 20). Published first: the frozen entries as one text
-- (byte for byte) naming the day of the draw and the public value it waits
-- for, its SM3, who published it and when. Drawn once, on that day: the
-- value given, the seed SM3(published ‖ value), the ranking (JSON), who
-- drew it and when — the draw columns are all null or all set.
-- `civitas lottery verify` recomputes a draw from what is read back.
CREATE TABLE lotteries (
    id            TEXT COLLATE "C" NOT NULL PRIMARY KEY,
    tenant_path   TEXT COLLATE "C" NOT NULL,
    service       TEXT   NOT NULL,
    project       TEXT   NOT NULL,
    unit_type     TEXT   NOT NULL,
    published     TEXT   NOT NULL,
    published_sm3 TEXT   NOT NULL,
    published_by  TEXT   NOT NULL,
    published_at  BIGINT NOT NULL,
    value         TEXT,
    seed          TEXT,
    ranking       TEXT,
    drawn_by      TEXT,
    drawn_at      BIGINT,
    CHECK ((value IS NULL AND seed IS NULL AND ranking IS NULL AND drawn_by IS NULL AND drawn_at IS NULL)
        OR (value IS NOT NULL AND seed IS NOT NULL AND ranking IS NOT NULL AND drawn_by IS NOT NULL AND drawn_at IS NOT NULL))
);
CREATE INDEX lotteries_tenant ON lotteries (tenant_path, published_at);
-- A drawn lottery never changes, and the published text never does: the
-- column grant below lets the draw fill in the draw columns once.
CREATE FUNCTION civitas_lottery_drawn_once() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF OLD.drawn_at IS NOT NULL THEN
        RAISE EXCEPTION 'a drawn lottery does not change';
    END IF;
    RETURN NEW;
END;
$$;
CREATE TRIGGER lotteries_drawn_once BEFORE UPDATE ON lotteries
    FOR EACH ROW EXECUTE FUNCTION civitas_lottery_drawn_once();
-- Each case is in one lottery: the primary key refuses a second lottery
-- over an application another one took.
CREATE TABLE lottery_entries (
    case_id     TEXT COLLATE "C" NOT NULL PRIMARY KEY REFERENCES cases (id),
    tenant_path TEXT COLLATE "C" NOT NULL,
    lottery_id  TEXT COLLATE "C" NOT NULL REFERENCES lotteries (id)
);
-- The waiting list's "not taken yet": the subtree's entries.
CREATE INDEX lottery_entries_tenant ON lottery_entries (tenant_path, case_id);

GRANT SELECT, INSERT ON lotteries, lottery_entries TO civitas_app;
-- The draw fills in the draw columns once (WHERE drawn_at IS NULL).
GRANT UPDATE (value, seed, ranking, drawn_by, drawn_at) ON lotteries TO civitas_app;
ALTER TABLE lotteries ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_subtree ON lotteries
    USING (civitas_in_scope(tenant_path)) WITH CHECK (civitas_in_scope(tenant_path));
ALTER TABLE lottery_entries ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_subtree ON lottery_entries
    USING (civitas_in_scope(tenant_path)) WITH CHECK (civitas_in_scope(tenant_path));
