-- Electronic seals and issued documents (see the PostgreSQL migration):
-- civitas-seal.
CREATE TABLE seals (
    id          TEXT    NOT NULL PRIMARY KEY,
    tenant_path TEXT    NOT NULL,
    line        TEXT    NOT NULL,
    name        TEXT    NOT NULL,
    seal        BLOB    NOT NULL,
    certificate BLOB    NOT NULL,
    private_key TEXT    NOT NULL,
    key_version INTEGER NOT NULL,
    valid_from  INTEGER NOT NULL,
    valid_until INTEGER NOT NULL,
    made_by     TEXT    NOT NULL,
    made_at     INTEGER NOT NULL,
    revoked_by  TEXT,
    revoked_at  INTEGER,
    CHECK ((revoked_by IS NULL) = (revoked_at IS NULL))
);
CREATE UNIQUE INDEX seals_active ON seals (tenant_path, line) WHERE revoked_at IS NULL;
CREATE TRIGGER seals_not_deleted BEFORE DELETE ON seals
BEGIN
    SELECT RAISE(ABORT, 'a seal is not deleted');
END;

CREATE TABLE issued_documents (
    sm3         TEXT    NOT NULL PRIMARY KEY,
    tenant_path TEXT    NOT NULL,
    case_id     TEXT    NOT NULL REFERENCES cases (id),
    kind        TEXT    NOT NULL,
    name        TEXT    NOT NULL,
    number      TEXT    NOT NULL,
    seal_id     TEXT    NOT NULL REFERENCES seals (id),
    size        INTEGER NOT NULL,
    issued_by   TEXT    NOT NULL,
    issued_at   INTEGER NOT NULL,
    UNIQUE (case_id, kind)
);
CREATE INDEX issued_documents_tenant ON issued_documents (tenant_path, issued_at);
CREATE TRIGGER issued_documents_unchanged BEFORE UPDATE ON issued_documents
BEGIN
    SELECT RAISE(ABORT, 'an issued document does not change');
END;
CREATE TRIGGER issued_documents_not_deleted BEFORE DELETE ON issued_documents
BEGIN
    SELECT RAISE(ABORT, 'an issued document is not deleted');
END;

CREATE TABLE document_serials (
    tenant_path TEXT    NOT NULL,
    kind        TEXT    NOT NULL,
    year        INTEGER NOT NULL,
    last        INTEGER NOT NULL,
    PRIMARY KEY (tenant_path, kind, year)
);
