-- What-if reports (issue 20): a candidate module version run over a
-- subtree's recorded decisions before a rollout, kept as reported (JSON
-- text and its SM3) with who ran it, so that a rollout can name the report
-- it was decided on (binding_history.what_if_report, and the module.bind
-- audit record). Written once, never changed.
CREATE TABLE what_if_reports (
    id          TEXT COLLATE "C" NOT NULL PRIMARY KEY,
    tenant_path TEXT COLLATE "C" NOT NULL,
    service     TEXT   NOT NULL,
    candidate   TEXT   NOT NULL,
    report      TEXT   NOT NULL,
    report_sm3  TEXT   NOT NULL,
    created_by  TEXT   NOT NULL,
    created_at  BIGINT NOT NULL
);
CREATE INDEX what_if_reports_tenant ON what_if_reports (tenant_path, created_at);
GRANT SELECT, INSERT ON what_if_reports TO civitas_app;
ALTER TABLE what_if_reports ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_subtree ON what_if_reports
    USING (civitas_in_scope(tenant_path)) WITH CHECK (civitas_in_scope(tenant_path));

-- The report a binding change was decided on (required for a partial
-- rollout by the API; none for changes before this column or a rollback).
ALTER TABLE binding_history ADD COLUMN what_if_report TEXT;
