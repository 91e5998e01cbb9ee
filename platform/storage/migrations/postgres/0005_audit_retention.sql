-- Retention: records older than 180 days may be removed once exported, and
-- only behind a prune point — the platform's SM2 signature over the last
-- removed record's (tenant, seq, hash) and the digest of the export. Verify
-- starts each chain from its latest prune point.
CREATE TABLE audit_prune_points (
    tenant_path    TEXT COLLATE "C" NOT NULL,
    seq            BIGINT NOT NULL,
    hash           TEXT   NOT NULL,
    records        BIGINT NOT NULL,
    archive_sm3    TEXT   NOT NULL,
    pruned_at      BIGINT NOT NULL,
    public_key     TEXT   NOT NULL,
    signature      TEXT   NOT NULL,
    PRIMARY KEY (tenant_path, seq)
);
GRANT SELECT ON audit_prune_points TO civitas_app;
ALTER TABLE audit_prune_points ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_subtree ON audit_prune_points
    USING (civitas_in_scope(tenant_path)) WITH CHECK (civitas_in_scope(tenant_path));

-- A record may be deleted only if a prune point covers it and it is older
-- than 180 days; updates stay refused outright.
CREATE FUNCTION civitas_audit_prune_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF OLD.occurred_at < (extract(epoch FROM now()) - 180 * 86400) * 1000000
       AND EXISTS (SELECT 1 FROM audit_prune_points p
                   WHERE p.tenant_path = OLD.tenant_path AND p.seq >= OLD.seq) THEN
        RETURN OLD;
    END IF;
    RAISE EXCEPTION 'audit records are append-only';
END
$$;
DROP TRIGGER audit_events_append_only ON audit_events;
CREATE TRIGGER audit_events_append_only BEFORE UPDATE ON audit_events
    FOR EACH ROW EXECUTE FUNCTION civitas_audit_append_only();
CREATE TRIGGER audit_events_prune_only BEFORE DELETE ON audit_events
    FOR EACH ROW EXECUTE FUNCTION civitas_audit_prune_only();
