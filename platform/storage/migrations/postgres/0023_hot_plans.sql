-- Hot statements get indexes that match them exactly (issue 19), so their
-- plans never hang on statistics: `workflow/tests/plans.rs` plans each
-- statement of filing, acting and firing timers on a fresh database, on a
-- large one with no statistics, with those of when it was small, and
-- analyzed.
--
-- A case's rows are read and deleted by case_id, and on PostgreSQL
-- row-level security adds the scope's tenant_path range to every such
-- statement. An index led by tenant_path then bounds its scan by that range
-- alone (every row of the street or district, case_id tested one by one),
-- yet without statistics the planner rates it above the primary key: the
-- range and the case_id together look more selective than a case_id whose
-- number of values it does not know. So it chose case_tasks_tenant,
-- case_events_tenant and case_timers_tenant, 12-14 ms per statement at a
-- street of 100,000 cases. Indexes led by case_id and holding tenant_path
-- next take both conditions as bounds and win under any statistics.
CREATE INDEX case_tasks_case ON case_tasks (case_id, tenant_path);
CREATE INDEX case_events_case ON case_events (case_id, tenant_path, seq);

-- Clearing a case's pending timers (every transition that enters a step)
-- tests case_id and fired_at IS NULL: planned on the subtree's timers, or
-- a BitmapAnd with every unfired timer of the city, by the statistics of
-- the day (2.4 ms per delete at 78,000 timers, growing linearly).
CREATE INDEX case_timers_open ON case_timers (case_id, tenant_path) WHERE fired_at IS NULL;

-- Claiming due timers orders by (fire_at, id): the index now holds both, so
-- a claim reads the first rows of the index and stops, without a sort.
DROP INDEX case_timers_due;
CREATE INDEX case_timers_due ON case_timers (fire_at, id) WHERE fired_at IS NULL;
