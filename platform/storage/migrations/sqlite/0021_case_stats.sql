-- Counts of cases for the dashboards (see the PostgreSQL migration): kept
-- by the workflow in the transaction of each change, summed per subtree.
CREATE TABLE case_stats (
    tenant_path  TEXT    NOT NULL,
    line         TEXT    NOT NULL,
    service      TEXT    NOT NULL,
    month        TEXT    NOT NULL,
    filed        INTEGER NOT NULL DEFAULT 0,
    approved     INTEGER NOT NULL DEFAULT 0,
    rejected     INTEGER NOT NULL DEFAULT 0,
    withdrawn    INTEGER NOT NULL DEFAULT 0,
    overdue      INTEGER NOT NULL DEFAULT 0,
    timed        INTEGER NOT NULL DEFAULT 0,
    working_days INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (tenant_path, line, service, month)
) WITHOUT ROWID;

-- What was there before: counted once, without processing times.
INSERT INTO case_stats (tenant_path, line, service, month, filed, approved, rejected, withdrawn, overdue)
SELECT tenant_path, line, service,
       strftime('%Y-%m', created_at / 1000000, 'unixepoch', '+8 hours'),
       count(*),
       sum(state = 'closed'),
       sum(state = 'rejected'),
       sum(state = 'withdrawn'),
       sum(EXISTS (SELECT 1 FROM case_events e WHERE e.case_id = cases.id AND e.action = 'limit.overdue'))
FROM cases
GROUP BY 1, 2, 3, 4;
