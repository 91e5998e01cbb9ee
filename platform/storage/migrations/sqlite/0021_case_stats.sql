-- Counts of cases for the dashboards (see the PostgreSQL migration): a
-- case counts at its place and every ancestor, by line, service and filing
-- month; a root's rows are split into shards.
CREATE TABLE case_stats (
    node_path    TEXT    NOT NULL,
    parent_path  TEXT    NOT NULL,
    line         TEXT    NOT NULL,
    service      TEXT    NOT NULL,
    month        TEXT    NOT NULL,
    shard        INTEGER NOT NULL,
    filed        INTEGER NOT NULL DEFAULT 0,
    approved     INTEGER NOT NULL DEFAULT 0,
    rejected     INTEGER NOT NULL DEFAULT 0,
    withdrawn    INTEGER NOT NULL DEFAULT 0,
    overdue      INTEGER NOT NULL DEFAULT 0,
    timed        INTEGER NOT NULL DEFAULT 0,
    working_days INTEGER NOT NULL DEFAULT 0,
    rated        INTEGER NOT NULL DEFAULT 0,
    score_sum    INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (node_path, line, service, month, shard)
) WITHOUT ROWID;
CREATE INDEX case_stats_children ON case_stats (parent_path, month);

-- What was there before: each case counted at its place and every
-- ancestor, once, without processing times (a case transferred before
-- this counts as filed where it is now).
INSERT INTO case_stats (node_path, parent_path, line, service, month, shard, filed, approved, rejected, withdrawn, overdue)
SELECT t.path, coalesce(t.parent_path, ''), c.line, c.service,
       strftime('%Y-%m', c.created_at / 1000000, 'unixepoch', '+8 hours'),
       0,
       count(*),
       sum(c.state = 'closed'),
       sum(c.state = 'rejected'),
       sum(c.state = 'withdrawn'),
       sum(EXISTS (SELECT 1 FROM case_events e WHERE e.case_id = c.id AND e.action = 'limit.overdue'))
FROM cases c
JOIN tenants t ON c.tenant_path = t.path OR (c.tenant_path > t.path || '/' AND c.tenant_path < t.path || '0')
GROUP BY 1, 2, 3, 4, 5;
