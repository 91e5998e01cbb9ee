-- Every decision a module made on a case, as it was made (see the
-- PostgreSQL migration): replayed by `civitas audit replay CASE`.
CREATE TABLE case_evaluations (
    id           TEXT    NOT NULL PRIMARY KEY,
    case_id      TEXT    NOT NULL REFERENCES cases (id),
    tenant_path  TEXT    NOT NULL,
    hook         TEXT    NOT NULL,
    module       TEXT    NOT NULL,
    version      TEXT    NOT NULL,
    evaluated_on TEXT    NOT NULL,
    input        TEXT    NOT NULL,
    settings     TEXT    NOT NULL,
    output       TEXT    NOT NULL,
    recorded_at  INTEGER NOT NULL
);
CREATE INDEX case_evaluations_case ON case_evaluations (case_id, tenant_path);
-- A subtree's decisions in the order they were made (`module what-if`).
CREATE INDEX case_evaluations_tenant ON case_evaluations (tenant_path, recorded_at);
