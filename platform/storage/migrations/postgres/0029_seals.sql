-- Electronic seals (电子印章) and the official documents sealed with them
-- (issue 22; seed 004 L35, L4478; GB/T 38540-2020): civitas-seal.
--
-- A seal belongs to a tenant and a line (the bureau of that line at that
-- place): its SESeal (DER, made and signed by the platform's root), its
-- signer certificate (DER, issued by the root) and its SM2 private key,
-- sealed with the tenant's data key (key_version; rotation re-seals it).
-- One active seal per tenant and line; a revoked seal stays, so documents
-- it sealed still verify and name it.
CREATE TABLE seals (
    id          TEXT COLLATE "C" NOT NULL PRIMARY KEY,
    tenant_path TEXT COLLATE "C" NOT NULL,
    line        TEXT   NOT NULL,
    name        TEXT   NOT NULL,
    seal        BYTEA  NOT NULL,
    certificate BYTEA  NOT NULL,
    private_key TEXT   NOT NULL,
    key_version BIGINT NOT NULL,
    valid_from  BIGINT NOT NULL,
    valid_until BIGINT NOT NULL,
    made_by     TEXT   NOT NULL,
    made_at     BIGINT NOT NULL,
    revoked_by  TEXT,
    revoked_at  BIGINT,
    CHECK ((revoked_by IS NULL) = (revoked_at IS NULL))
);
-- Issuing looks up the active seal of a line at each tenant on the path.
CREATE UNIQUE INDEX seals_active ON seals (tenant_path, line) WHERE revoked_at IS NULL;

-- Every issued document, by the SM3 of its sealed file (the file itself
-- is in document storage under that digest). One document of a kind per
-- case: an issued document is official and is not issued twice.
CREATE TABLE issued_documents (
    sm3         TEXT COLLATE "C" NOT NULL PRIMARY KEY,
    tenant_path TEXT COLLATE "C" NOT NULL,
    case_id     TEXT COLLATE "C" NOT NULL REFERENCES cases (id),
    kind        TEXT   NOT NULL,
    name        TEXT   NOT NULL,
    number      TEXT   NOT NULL,
    seal_id     TEXT COLLATE "C" NOT NULL REFERENCES seals (id),
    size        BIGINT NOT NULL,
    issued_by   TEXT   NOT NULL,
    issued_at   BIGINT NOT NULL,
    UNIQUE (case_id, kind)
);
CREATE INDEX issued_documents_tenant ON issued_documents (tenant_path, issued_at);

-- Document numbers (文号): the last serial of a kind per tenant and year.
CREATE TABLE document_serials (
    tenant_path TEXT COLLATE "C" NOT NULL,
    kind        TEXT   NOT NULL,
    year        INTEGER NOT NULL,
    last        BIGINT NOT NULL,
    PRIMARY KEY (tenant_path, kind, year)
);

GRANT SELECT, INSERT ON seals, issued_documents, document_serials TO civitas_app;
GRANT UPDATE (revoked_by, revoked_at, private_key, key_version) ON seals TO civitas_app;
GRANT UPDATE (last) ON document_serials TO civitas_app;
ALTER TABLE seals ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_subtree ON seals
    USING (civitas_in_scope(tenant_path)) WITH CHECK (civitas_in_scope(tenant_path));
ALTER TABLE issued_documents ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_subtree ON issued_documents
    USING (civitas_in_scope(tenant_path)) WITH CHECK (civitas_in_scope(tenant_path));
ALTER TABLE document_serials ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_subtree ON document_serials
    USING (civitas_in_scope(tenant_path)) WITH CHECK (civitas_in_scope(tenant_path));
