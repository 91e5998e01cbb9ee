-- 安薪 project monitoring data and the warnings filed from it (see the
-- PostgreSQL migration).
CREATE TABLE project_months (
    tenant_path  TEXT    NOT NULL,
    project_code TEXT    NOT NULL,
    month        TEXT    NOT NULL,
    record       TEXT    NOT NULL,
    import_id    TEXT    NOT NULL,
    imported_by  TEXT    NOT NULL,
    imported_at  INTEGER NOT NULL,
    PRIMARY KEY (tenant_path, project_code, month)
);
CREATE INDEX project_months_month ON project_months (month, tenant_path, project_code);
CREATE TABLE wage_warnings (
    tenant_path  TEXT    NOT NULL,
    project_code TEXT    NOT NULL,
    month        TEXT    NOT NULL,
    rules        TEXT    NOT NULL,
    case_id      TEXT REFERENCES cases (id),
    generated_at INTEGER NOT NULL,
    PRIMARY KEY (tenant_path, project_code, month)
);
CREATE INDEX wage_warnings_month ON wage_warnings (month, tenant_path, project_code);
