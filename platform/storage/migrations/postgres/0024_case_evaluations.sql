-- Every decision a module made on a case, as it was made: the input, the
-- tenant settings and the date it was given, and its answer (JSON text, as
-- serialised with keys in order). The history entry and the audit record of
-- the action name it by id with the SM3 digests of input, settings and
-- answer; `civitas audit replay CASE` runs the module version again on the
-- stored input and compares (issue 20).
CREATE TABLE case_evaluations (
    id           TEXT COLLATE "C" NOT NULL PRIMARY KEY,
    case_id      TEXT COLLATE "C" NOT NULL REFERENCES cases (id),
    tenant_path  TEXT COLLATE "C" NOT NULL,
    hook         TEXT   NOT NULL,
    module       TEXT   NOT NULL,
    version      TEXT   NOT NULL,
    evaluated_on TEXT   NOT NULL,
    input        TEXT   NOT NULL,
    settings     TEXT   NOT NULL,
    output       TEXT   NOT NULL,
    recorded_at  BIGINT NOT NULL
);
-- Led by case_id with tenant_path next, as every per-case table since 0023.
CREATE INDEX case_evaluations_case ON case_evaluations (case_id, tenant_path);
-- A subtree's decisions in the order they were made (`module what-if`).
CREATE INDEX case_evaluations_tenant ON case_evaluations (tenant_path, recorded_at);

GRANT SELECT, INSERT ON case_evaluations TO civitas_app;
-- It moves with a transferred case (its tenant only; never its content).
GRANT UPDATE (tenant_path) ON case_evaluations TO civitas_app;
ALTER TABLE case_evaluations ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_subtree ON case_evaluations
    USING (civitas_in_scope(tenant_path)) WITH CHECK (civitas_in_scope(tenant_path));
