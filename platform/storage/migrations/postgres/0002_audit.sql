-- The tamper-evident audit log: one SM3 hash chain per tenant.
-- Rows are only ever inserted; the code has no update or delete path, the
-- application role has no UPDATE or DELETE privilege, and a trigger refuses
-- both for every role.
CREATE TABLE audit_events (
    id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tenant_path TEXT COLLATE "C" NOT NULL,
    seq         BIGINT NOT NULL,
    occurred_at BIGINT NOT NULL,             -- microseconds since the Unix epoch
    actor       TEXT   NOT NULL,
    action      TEXT   NOT NULL,
    target      TEXT   NOT NULL,
    detail      TEXT   NOT NULL,             -- canonical JSON, hashed as stored
    prev_hash   TEXT   NOT NULL,
    hash        TEXT   NOT NULL,
    UNIQUE (tenant_path, seq)
);
CREATE INDEX audit_events_time ON audit_events (tenant_path, occurred_at);

CREATE TABLE audit_heads (
    tenant_path TEXT COLLATE "C" NOT NULL PRIMARY KEY,
    seq         BIGINT NOT NULL,
    hash        TEXT   NOT NULL
);

CREATE TABLE audit_anchors (
    tenant_path TEXT COLLATE "C" NOT NULL,
    seq         BIGINT NOT NULL,
    hash        TEXT   NOT NULL,
    signed_at   BIGINT NOT NULL,
    public_key  TEXT   NOT NULL,
    signature   TEXT   NOT NULL,
    PRIMARY KEY (tenant_path, seq)
);

CREATE FUNCTION civitas_audit_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit records are append-only';
END
$$;
CREATE TRIGGER audit_events_append_only BEFORE UPDATE OR DELETE ON audit_events
    FOR EACH ROW EXECUTE FUNCTION civitas_audit_append_only();
CREATE TRIGGER audit_events_no_truncate BEFORE TRUNCATE ON audit_events
    FOR EACH STATEMENT EXECUTE FUNCTION civitas_audit_append_only();

GRANT SELECT, INSERT ON audit_events TO civitas_app;
GRANT SELECT, INSERT, UPDATE ON audit_heads TO civitas_app;
GRANT SELECT ON audit_anchors TO civitas_app;

ALTER TABLE audit_events ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_subtree ON audit_events
    USING (civitas_in_scope(tenant_path)) WITH CHECK (civitas_in_scope(tenant_path));
ALTER TABLE audit_heads ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_subtree ON audit_heads
    USING (civitas_in_scope(tenant_path)) WITH CHECK (civitas_in_scope(tenant_path));
ALTER TABLE audit_anchors ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_subtree ON audit_anchors
    USING (civitas_in_scope(tenant_path)) WITH CHECK (civitas_in_scope(tenant_path));
