-- Retention: records older than 180 days may be removed once exported, and
-- only behind a prune point — the platform's SM2 signature over the last
-- removed record's (tenant, seq, hash) and the digest of the export. Verify
-- starts each chain from its latest prune point.
CREATE TABLE audit_prune_points (
    tenant_path    TEXT    NOT NULL,
    seq            INTEGER NOT NULL,         -- last removed record
    hash           TEXT    NOT NULL,         -- its hash: the next record's prev_hash
    records        INTEGER NOT NULL,         -- how many this prune removed
    archive_sm3    TEXT    NOT NULL,         -- SM3 of the exported JSON lines of this chain
    pruned_at      INTEGER NOT NULL,
    public_key     TEXT    NOT NULL,
    signature      TEXT    NOT NULL,
    PRIMARY KEY (tenant_path, seq)
);

-- A record may be deleted only if a prune point covers it and it is older
-- than 180 days; every other delete is refused, as before.
DROP TRIGGER audit_events_no_delete;
CREATE TRIGGER audit_events_no_delete BEFORE DELETE ON audit_events
WHEN NOT EXISTS (SELECT 1 FROM audit_prune_points p WHERE p.tenant_path = OLD.tenant_path AND p.seq >= OLD.seq)
  OR OLD.occurred_at >= (CAST(strftime('%s', 'now') AS INTEGER) - 180 * 86400) * 1000000
BEGIN SELECT RAISE(ABORT, 'audit records are append-only'); END;
