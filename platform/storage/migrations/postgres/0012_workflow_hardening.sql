-- Workflow hardening (issue 15).
--
-- Every workflow table gets an index led by tenant_path (ARCHITECTURE.md:
-- "Every tenant-owned table has tenant_path leading an index"; cases has
-- cases_tenant already). Subtree reads, row-level security's range test and
-- a tenant's export or erasure walk these.
CREATE INDEX case_tasks_tenant ON case_tasks (tenant_path, case_id);
CREATE INDEX case_events_tenant ON case_events (tenant_path, case_id, seq);
CREATE INDEX case_attachments_tenant ON case_attachments (tenant_path, case_id);
CREATE INDEX case_timers_tenant ON case_timers (tenant_path, case_id);

-- The notifications page (timers::notifications): the subtree's range, the
-- line, newest first, then by id. Every column the query tests is in the
-- index, so rows of other lines are passed over in the index, never read.
CREATE INDEX notifications_scope ON notifications (tenant_path, line, created_at, id);

-- The account that created a case: who may resubmit a case without an
-- applicant. Usernames are unique and never change, so earlier cases take
-- the account of the username they record (a creator no account has stays
-- unknown, and only an applicant can resubmit such a case).
ALTER TABLE cases ADD COLUMN created_by_account TEXT COLLATE "C";
UPDATE cases SET created_by_account = (SELECT accounts.id FROM accounts WHERE accounts.username = cases.created_by);
