-- Workflow: cases, their open tasks, history, attachments metadata, durable
-- timers and notifications. Every table is tenant data (row-level security
-- on the case's current tenant). Times are Unix microseconds; dates are
-- YYYY-MM-DD text (China time), which sorts as dates do.

CREATE TABLE cases (
    id            TEXT COLLATE "C" NOT NULL PRIMARY KEY,
    tenant_path   TEXT COLLATE "C" NOT NULL,
    line          TEXT COLLATE "C" NOT NULL,
    service       TEXT COLLATE "C" NOT NULL,
    flow_variant  TEXT COLLATE "C" NOT NULL,
    title         TEXT   NOT NULL,
    origin        TEXT   NOT NULL,
    state         TEXT   NOT NULL,
    step          TEXT,
    version       BIGINT NOT NULL,
    applicant     TEXT COLLATE "C",
    created_by    TEXT   NOT NULL,
    data          TEXT   NOT NULL,
    outcomes      TEXT   NOT NULL,
    signed        TEXT   NOT NULL,
    step_due_on   TEXT,
    step_unit     TEXT,
    limit_due_on  TEXT,
    limit_unit    TEXT,
    paused_on     TEXT,
    overdue       BOOLEAN NOT NULL DEFAULT FALSE,
    supervised    BOOLEAN NOT NULL DEFAULT FALSE,
    created_at    BIGINT NOT NULL,
    updated_at    BIGINT NOT NULL
);
CREATE INDEX cases_tenant ON cases (tenant_path, line, state, created_at);
CREATE INDEX cases_applicant ON cases (applicant, created_at) WHERE applicant IS NOT NULL;

-- One row per actor slot of a case's current step that has not acted yet:
-- the inbox reads only this table's partial index.
CREATE TABLE case_tasks (
    case_id       TEXT COLLATE "C" NOT NULL REFERENCES cases (id),
    slot          BIGINT  NOT NULL,
    tenant_path   TEXT COLLATE "C" NOT NULL,
    actor_tenant  TEXT COLLATE "C" NOT NULL,
    actor_role    TEXT COLLATE "C" NOT NULL,
    line          TEXT COLLATE "C" NOT NULL,
    step          TEXT   NOT NULL,
    due_on        TEXT   NOT NULL,
    unit          TEXT   NOT NULL,
    title         TEXT   NOT NULL,
    service       TEXT   NOT NULL,
    PRIMARY KEY (case_id, slot)
);
CREATE INDEX case_tasks_inbox ON case_tasks (actor_tenant, line, due_on, case_id);

CREATE TABLE case_events (
    case_id        TEXT COLLATE "C" NOT NULL REFERENCES cases (id),
    seq            BIGINT NOT NULL,
    tenant_path    TEXT COLLATE "C" NOT NULL,
    at             BIGINT NOT NULL,
    actor          TEXT   NOT NULL,
    action         TEXT   NOT NULL,
    step           TEXT,
    to_step        TEXT,
    reason         TEXT,
    module         TEXT,
    module_version TEXT,
    detail         TEXT   NOT NULL,
    PRIMARY KEY (case_id, seq)
);

CREATE TABLE case_attachments (
    id          TEXT COLLATE "C" NOT NULL PRIMARY KEY,
    case_id     TEXT COLLATE "C" NOT NULL REFERENCES cases (id),
    tenant_path TEXT COLLATE "C" NOT NULL,
    name        TEXT   NOT NULL,
    media_type  TEXT   NOT NULL,
    size        BIGINT NOT NULL,
    sm3         TEXT   NOT NULL,
    added_by    TEXT   NOT NULL,
    added_at    BIGINT NOT NULL
);
CREATE INDEX case_attachments_case ON case_attachments (case_id);

-- Durable timers: claimed with FOR UPDATE SKIP LOCKED and fired in the
-- transaction that claims them, so each fires once across processes.
CREATE TABLE case_timers (
    id           TEXT COLLATE "C" NOT NULL PRIMARY KEY,
    case_id      TEXT COLLATE "C" NOT NULL REFERENCES cases (id),
    tenant_path  TEXT COLLATE "C" NOT NULL,
    kind         TEXT   NOT NULL,
    step         TEXT,
    due_on       TEXT   NOT NULL,
    fire_at      BIGINT NOT NULL,
    fired_at     BIGINT,
    fired_by     TEXT
);
CREATE INDEX case_timers_due ON case_timers (fire_at) WHERE fired_at IS NULL;
CREATE INDEX case_timers_case ON case_timers (case_id);

-- What a timer or an action asks someone to look at; delivery channels
-- (SMS, app push) read this table later.
CREATE TABLE notifications (
    id              TEXT COLLATE "C" NOT NULL PRIMARY KEY,
    tenant_path     TEXT COLLATE "C" NOT NULL,
    case_id         TEXT COLLATE "C" NOT NULL,
    timer_id        TEXT COLLATE "C",
    kind            TEXT   NOT NULL,
    recipient_tenant TEXT COLLATE "C" NOT NULL,
    recipient_role  TEXT   NOT NULL,
    line            TEXT   NOT NULL,
    message_zh      TEXT   NOT NULL,
    message_en      TEXT   NOT NULL,
    created_at      BIGINT NOT NULL,
    delivered_at    BIGINT
);
CREATE INDEX notifications_recipient ON notifications (recipient_tenant, created_at);
CREATE INDEX notifications_case ON notifications (case_id);

GRANT SELECT, INSERT, UPDATE ON cases TO civitas_app;
GRANT SELECT, INSERT, UPDATE, DELETE ON case_tasks TO civitas_app;
GRANT SELECT, INSERT ON case_events TO civitas_app;
GRANT SELECT, INSERT ON case_attachments TO civitas_app;
-- History moves with a transferred case (its tenant only; never its content).
GRANT UPDATE (tenant_path) ON case_events, case_attachments, notifications TO civitas_app;
GRANT SELECT, INSERT, UPDATE, DELETE ON case_timers TO civitas_app;
GRANT SELECT, INSERT ON notifications TO civitas_app;

ALTER TABLE cases ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_subtree ON cases
    USING (civitas_in_scope(tenant_path)) WITH CHECK (civitas_in_scope(tenant_path));
ALTER TABLE case_tasks ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_subtree ON case_tasks
    USING (civitas_in_scope(tenant_path)) WITH CHECK (civitas_in_scope(tenant_path));
ALTER TABLE case_events ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_subtree ON case_events
    USING (civitas_in_scope(tenant_path)) WITH CHECK (civitas_in_scope(tenant_path));
ALTER TABLE case_attachments ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_subtree ON case_attachments
    USING (civitas_in_scope(tenant_path)) WITH CHECK (civitas_in_scope(tenant_path));
ALTER TABLE case_timers ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_subtree ON case_timers
    USING (civitas_in_scope(tenant_path)) WITH CHECK (civitas_in_scope(tenant_path));
ALTER TABLE notifications ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_subtree ON notifications
    USING (civitas_in_scope(tenant_path)) WITH CHECK (civitas_in_scope(tenant_path));
