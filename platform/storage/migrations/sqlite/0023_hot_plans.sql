-- Hot statements get indexes that match them exactly (issue 19), so their
-- plans never hang on statistics: `workflow/tests/plans.rs` checks each
-- statement of filing, acting and firing timers on a fresh database, on a
-- large one whose statistics were taken when it was small, and on the same
-- analyzed.
--
-- Clearing a case's pending timers (every transition that enters a step)
-- tests case_id and fired_at IS NULL. With only case_timers_case,
-- case_timers_tenant and case_timers_due to choose from, PostgreSQL planned
-- it as a range over the subtree's timers, or a BitmapAnd with every
-- unfired timer of the city, by the statistics of the day: 2.4 ms per
-- delete at 78,000 timers, growing linearly.
CREATE INDEX case_timers_open ON case_timers (case_id) WHERE fired_at IS NULL;

-- Claiming due timers orders by (fire_at, id): the index now holds both, so
-- a claim reads the first rows of the index and stops, without a sort.
DROP INDEX case_timers_due;
CREATE INDEX case_timers_due ON case_timers (fire_at, id) WHERE fired_at IS NULL;
