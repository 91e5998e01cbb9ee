-- What-if reports as run, and the report a binding change was decided on
-- (see the PostgreSQL migration).
CREATE TABLE what_if_reports (
    id          TEXT    NOT NULL PRIMARY KEY,
    tenant_path TEXT    NOT NULL,
    service     TEXT    NOT NULL,
    candidate   TEXT    NOT NULL,
    report      TEXT    NOT NULL,
    report_sm3  TEXT    NOT NULL,
    created_by  TEXT    NOT NULL,
    created_at  INTEGER NOT NULL
);
CREATE INDEX what_if_reports_tenant ON what_if_reports (tenant_path, created_at);
ALTER TABLE binding_history ADD COLUMN what_if_report TEXT;
