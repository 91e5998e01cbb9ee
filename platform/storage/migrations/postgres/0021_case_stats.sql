-- Counts of cases for the dashboards, kept up to date by the workflow in
-- the transaction of each change: filed, finished by outcome, past their
-- statutory limit, and the working days finished cases took. A dashboard
-- sums a subtree's rows (a few per place, service and month) instead of
-- scanning its cases.
--
-- Cases are counted in the month they were filed (Beijing time), at the
-- place that held them when the count changed. A row is one place's: a
-- street files a few cases a minute, so transactions seldom wait on it
-- (counting at the district or city too would make every filing there wait
-- on one row).
CREATE TABLE case_stats (
    tenant_path  TEXT COLLATE "C" NOT NULL,
    line         TEXT COLLATE "C" NOT NULL,
    service      TEXT COLLATE "C" NOT NULL,
    month        TEXT COLLATE "C" NOT NULL,
    filed        BIGINT NOT NULL DEFAULT 0,
    approved     BIGINT NOT NULL DEFAULT 0,
    rejected     BIGINT NOT NULL DEFAULT 0,
    withdrawn    BIGINT NOT NULL DEFAULT 0,
    overdue      BIGINT NOT NULL DEFAULT 0,
    -- Finished cases whose processing time was measured, and its sum in
    -- working days (cases finished before this table existed have none).
    timed        BIGINT NOT NULL DEFAULT 0,
    working_days BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (tenant_path, line, service, month)
);

-- What was there before: counted once, without processing times.
INSERT INTO case_stats (tenant_path, line, service, month, filed, approved, rejected, withdrawn, overdue)
SELECT tenant_path, line, service,
       to_char(to_timestamp(created_at / 1000000.0) AT TIME ZONE 'Asia/Shanghai', 'YYYY-MM'),
       count(*),
       count(*) FILTER (WHERE state = 'closed'),
       count(*) FILTER (WHERE state = 'rejected'),
       count(*) FILTER (WHERE state = 'withdrawn'),
       count(*) FILTER (WHERE EXISTS (SELECT 1 FROM case_events e WHERE e.case_id = cases.id AND e.action = 'limit.overdue'))
FROM cases
GROUP BY 1, 2, 3, 4;

GRANT SELECT, INSERT, UPDATE ON case_stats TO civitas_app;
ALTER TABLE case_stats ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_subtree ON case_stats
    USING (civitas_in_scope(tenant_path)) WITH CHECK (civitas_in_scope(tenant_path));
