-- 安薪 project monitoring data and the warnings filed from it (seed 000
-- L206–411; issue 20). A project-month is one row per place, project and
-- month: the document the warning module is given (the service's input
-- schema), as imported; importing it again replaces it.
CREATE TABLE project_months (
    tenant_path  TEXT COLLATE "C" NOT NULL,
    project_code TEXT COLLATE "C" NOT NULL,
    month        TEXT COLLATE "C" NOT NULL,
    record       TEXT   NOT NULL,
    import_id    TEXT   NOT NULL,
    imported_by  TEXT   NOT NULL,
    imported_at  BIGINT NOT NULL,
    PRIMARY KEY (tenant_path, project_code, month)
);
-- A run reads one month of a subtree, by place and project.
CREATE INDEX project_months_month ON project_months (month, tenant_path, project_code);
-- A warned project-month, claimed before its case is filed (case_id null
-- until then): a run never files one twice and files what an interrupted
-- run left.
CREATE TABLE wage_warnings (
    tenant_path  TEXT COLLATE "C" NOT NULL,
    project_code TEXT COLLATE "C" NOT NULL,
    month        TEXT COLLATE "C" NOT NULL,
    rules        TEXT   NOT NULL,
    case_id      TEXT COLLATE "C" REFERENCES cases (id),
    generated_at BIGINT NOT NULL,
    PRIMARY KEY (tenant_path, project_code, month)
);
CREATE INDEX wage_warnings_month ON wage_warnings (month, tenant_path, project_code);

GRANT SELECT, INSERT, UPDATE, DELETE ON project_months TO civitas_app;
GRANT SELECT, INSERT ON wage_warnings TO civitas_app;
GRANT UPDATE (case_id) ON wage_warnings TO civitas_app;
ALTER TABLE project_months ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_subtree ON project_months
    USING (civitas_in_scope(tenant_path)) WITH CHECK (civitas_in_scope(tenant_path));
ALTER TABLE wage_warnings ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_subtree ON wage_warnings
    USING (civitas_in_scope(tenant_path)) WITH CHECK (civitas_in_scope(tenant_path));
