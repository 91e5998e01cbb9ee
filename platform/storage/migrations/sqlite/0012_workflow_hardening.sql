-- Workflow hardening (issue 15); see the PostgreSQL migration.
--
-- Every workflow table gets an index led by tenant_path (cases has
-- cases_tenant already).
CREATE INDEX case_tasks_tenant ON case_tasks (tenant_path, case_id);
CREATE INDEX case_events_tenant ON case_events (tenant_path, case_id, seq);
CREATE INDEX case_attachments_tenant ON case_attachments (tenant_path, case_id);
CREATE INDEX case_timers_tenant ON case_timers (tenant_path, case_id);

-- The notifications page: subtree range, line, newest first, then by id.
CREATE INDEX notifications_scope ON notifications (tenant_path, line, created_at, id);

-- The account that created a case (who may resubmit one without an
-- applicant); earlier cases take the account of their creator's username.
ALTER TABLE cases ADD COLUMN created_by_account TEXT;
UPDATE cases SET created_by_account = (SELECT accounts.id FROM accounts WHERE accounts.username = cases.created_by);
