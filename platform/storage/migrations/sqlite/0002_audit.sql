-- The tamper-evident audit log: one SM3 hash chain per tenant.
-- Rows are only ever inserted; the code has no update or delete path.
CREATE TABLE audit_events (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant_path TEXT    NOT NULL,
    seq         INTEGER NOT NULL,            -- 1, 2, 3… within the tenant
    occurred_at INTEGER NOT NULL,            -- microseconds since the Unix epoch
    actor       TEXT    NOT NULL,
    action      TEXT    NOT NULL,
    target      TEXT    NOT NULL,
    detail      TEXT    NOT NULL,            -- canonical JSON, hashed as stored
    prev_hash   TEXT    NOT NULL,            -- hex SM3 of the previous record
    hash        TEXT    NOT NULL,            -- hex SM3 of this record
    UNIQUE (tenant_path, seq)
);
CREATE INDEX audit_events_time ON audit_events (tenant_path, occurred_at);

-- The head of each tenant's chain: appends lock it, so one tenant's records
-- are numbered one at a time.
CREATE TABLE audit_heads (
    tenant_path TEXT    NOT NULL PRIMARY KEY,
    seq         INTEGER NOT NULL,
    hash        TEXT    NOT NULL
);

-- Signed checkpoints: the platform's SM2 signature over (tenant, seq, hash).
CREATE TABLE audit_anchors (
    tenant_path TEXT    NOT NULL,
    seq         INTEGER NOT NULL,
    hash        TEXT    NOT NULL,
    signed_at   INTEGER NOT NULL,
    public_key  TEXT    NOT NULL,            -- hex of the signing key's point
    signature   TEXT    NOT NULL,            -- hex DER
    PRIMARY KEY (tenant_path, seq)
);

CREATE TRIGGER audit_events_no_update BEFORE UPDATE ON audit_events
BEGIN SELECT RAISE(ABORT, 'audit records are append-only'); END;
CREATE TRIGGER audit_events_no_delete BEFORE DELETE ON audit_events
BEGIN SELECT RAISE(ABORT, 'audit records are append-only'); END;
