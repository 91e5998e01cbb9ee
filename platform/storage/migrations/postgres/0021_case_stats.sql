-- Counts of cases for the dashboards, kept up to date by the workflow in
-- the transaction of each change: filed, finished by outcome, past their
-- statutory limit, and the working days finished cases took.
--
-- A case counts at its place and at every ancestor of it: a row counts the
-- subtree of `node_path` (its parent is `parent_path`, '' for a root) for a
-- line, service and filing month (Beijing time). A dashboard of a place
-- reads its own rows (by month) and its children's (by place): a few dozen
-- rows per child, whatever the number of cases or streets below.
--
-- A root's rows take every filing of the whole tree, so they are split into
-- shards (by case id) that concurrent filings do not share; lower rows take
-- one district's or street's, and are one row each (shard 0).
CREATE TABLE case_stats (
    node_path    TEXT COLLATE "C" NOT NULL,
    parent_path  TEXT COLLATE "C" NOT NULL,
    line         TEXT COLLATE "C" NOT NULL,
    service      TEXT COLLATE "C" NOT NULL,
    month        TEXT COLLATE "C" NOT NULL,
    shard        BIGINT NOT NULL,
    filed        BIGINT NOT NULL DEFAULT 0,
    approved     BIGINT NOT NULL DEFAULT 0,
    rejected     BIGINT NOT NULL DEFAULT 0,
    withdrawn    BIGINT NOT NULL DEFAULT 0,
    overdue      BIGINT NOT NULL DEFAULT 0,
    -- Finished cases whose processing time was measured, and its sum in
    -- working days (cases finished before this table existed have none).
    timed        BIGINT NOT NULL DEFAULT 0,
    working_days BIGINT NOT NULL DEFAULT 0,
    -- Finished cases their applicant rated (好差评, 1–5), and the scores' sum.
    rated        BIGINT NOT NULL DEFAULT 0,
    score_sum    BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (node_path, line, service, month, shard)
);
-- A dashboard's places: the rows of a node's children.
CREATE INDEX case_stats_children ON case_stats (parent_path, month);

-- What was there before: each case counted at its place and every
-- ancestor, once, without processing times (a case transferred before
-- this counts as filed where it is now).
INSERT INTO case_stats (node_path, parent_path, line, service, month, shard, filed, approved, rejected, withdrawn, overdue)
SELECT t.path, coalesce(t.parent_path, ''), c.line, c.service,
       to_char(to_timestamp(c.created_at / 1000000.0) AT TIME ZONE 'Asia/Shanghai', 'YYYY-MM'),
       0,
       count(*),
       count(*) FILTER (WHERE c.state = 'closed'),
       count(*) FILTER (WHERE c.state = 'rejected'),
       count(*) FILTER (WHERE c.state = 'withdrawn'),
       count(*) FILTER (WHERE EXISTS (SELECT 1 FROM case_events e WHERE e.case_id = c.id AND e.action = 'limit.overdue'))
FROM cases c
JOIN tenants t ON c.tenant_path = t.path OR (c.tenant_path > t.path || '/' AND c.tenant_path < t.path || '0')
GROUP BY 1, 2, 3, 4, 5;

-- A scope counts a change of a case in its subtree at the case's place and
-- at every ancestor, the scope's own ancestors included: it reads and
-- writes the counts (numbers, never a case) of its subtree and of the
-- places above it.
CREATE FUNCTION civitas_above_scope(row_path TEXT) RETURNS BOOLEAN
LANGUAGE sql STABLE AS $$
    SELECT current_setting('civitas.tenant_path', TRUE) COLLATE "C" > row_path || '/'
       AND current_setting('civitas.tenant_path', TRUE) COLLATE "C" < row_path || '0'
$$;

GRANT SELECT, INSERT, UPDATE ON case_stats TO civitas_app;
ALTER TABLE case_stats ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_subtree ON case_stats
    USING (civitas_in_scope(node_path) OR civitas_above_scope(node_path))
    WITH CHECK (civitas_in_scope(node_path) OR civitas_above_scope(node_path));
