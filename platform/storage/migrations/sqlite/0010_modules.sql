-- The module registry (platform data: every tenant's bindings may name any
-- module, so these tables carry no row-level security; writes are authorised
-- by the API: module.publish at a root, module.bind at the binding's tenant).

-- SM2 public keys publishers sign artifacts with.
CREATE TABLE signing_keys (
    id          TEXT NOT NULL PRIMARY KEY,
    account_id  TEXT NOT NULL REFERENCES accounts (id),
    public_key  TEXT   NOT NULL UNIQUE,
    created_at  BIGINT NOT NULL,
    revoked_at  BIGINT
);
CREATE INDEX signing_keys_account ON signing_keys (account_id);

-- Artifacts, content-addressed by SM3 and immutable once published; a
-- yanked version stays (bindings already using it keep working) but cannot
-- be newly bound.
CREATE TABLE modules (
    name         TEXT NOT NULL,
    version      TEXT NOT NULL,
    service      TEXT NOT NULL,
    digest       TEXT   NOT NULL,
    size         BIGINT NOT NULL,
    wit_version  TEXT   NOT NULL,
    world        TEXT   NOT NULL,
    exports      TEXT   NOT NULL,
    publisher    TEXT   NOT NULL,
    signing_key  TEXT NOT NULL REFERENCES signing_keys (id),
    signature    TEXT   NOT NULL,
    artifact     BLOB  NOT NULL,
    published_at BIGINT NOT NULL,
    yanked_at    BIGINT,
    yanked_by    TEXT,
    yank_reason  TEXT,
    PRIMARY KEY (name, version)
);
CREATE INDEX modules_service ON modules (service);

-- Which module version serves a service at a tenant ('' = the service's
-- default). A candidate serves rollout_percent of cases, chosen from the
-- case id.
CREATE TABLE bindings (
    tenant_path       TEXT NOT NULL,
    service           TEXT NOT NULL,
    module            TEXT,
    version           TEXT,
    candidate_module  TEXT,
    candidate_version TEXT,
    rollout_percent   INTEGER NOT NULL,
    revision          BIGINT  NOT NULL,
    updated_by        TEXT    NOT NULL,
    updated_at        BIGINT  NOT NULL,
    PRIMARY KEY (tenant_path, service)
);

-- Every state a binding has had, for rollback and review.
CREATE TABLE binding_history (
    tenant_path       TEXT NOT NULL,
    service           TEXT NOT NULL,
    revision          BIGINT  NOT NULL,
    module            TEXT,
    version           TEXT,
    candidate_module  TEXT,
    candidate_version TEXT,
    rollout_percent   INTEGER NOT NULL,
    change            TEXT    NOT NULL,
    changed_by        TEXT    NOT NULL,
    changed_at        BIGINT  NOT NULL,
    PRIMARY KEY (tenant_path, service, revision)
);

