-- Search indexing that loses nothing (see the PostgreSQL migration): an
-- outbox row per change to an indexed row, written by trigger in the same
-- transaction.
CREATE TABLE search_outbox (
    seq       INTEGER PRIMARY KEY AUTOINCREMENT,
    kind      TEXT    NOT NULL,
    doc       TEXT    NOT NULL,
    queued_at INTEGER NOT NULL
);

CREATE TABLE search_indexers (
    backend    TEXT    NOT NULL PRIMARY KEY,
    applied    INTEGER NOT NULL DEFAULT 0,
    applied_at INTEGER,
    rejected   INTEGER NOT NULL DEFAULT 0
);

CREATE TRIGGER cases_search_insert AFTER INSERT ON cases BEGIN
    INSERT INTO search_outbox (kind, doc, queued_at)
    VALUES ('case', NEW.id, CAST((julianday('now') - 2440587.5) * 86400000000 AS INTEGER));
END;
CREATE TRIGGER cases_search_update AFTER UPDATE ON cases BEGIN
    INSERT INTO search_outbox (kind, doc, queued_at)
    VALUES ('case', NEW.id, CAST((julianday('now') - 2440587.5) * 86400000000 AS INTEGER));
END;
CREATE TRIGGER accounts_search_insert AFTER INSERT ON accounts BEGIN
    INSERT INTO search_outbox (kind, doc, queued_at)
    VALUES ('account', NEW.id, CAST((julianday('now') - 2440587.5) * 86400000000 AS INTEGER));
END;
CREATE TRIGGER accounts_search_update AFTER UPDATE OF username, display_name, tenant_path, kind, subject, employee_no, disabled ON accounts BEGIN
    INSERT INTO search_outbox (kind, doc, queued_at)
    VALUES ('account', NEW.id, CAST((julianday('now') - 2440587.5) * 86400000000 AS INTEGER));
END;
CREATE TRIGGER residents_search_insert AFTER INSERT ON residents BEGIN
    INSERT INTO search_outbox (kind, doc, queued_at)
    VALUES ('resident', NEW.id, CAST((julianday('now') - 2440587.5) * 86400000000 AS INTEGER));
END;
CREATE TRIGGER residents_search_update AFTER UPDATE OF name, tenant_path ON residents BEGIN
    INSERT INTO search_outbox (kind, doc, queued_at)
    VALUES ('resident', NEW.id, CAST((julianday('now') - 2440587.5) * 86400000000 AS INTEGER));
END;

-- A deleted row names itself too: the indexer finds no row and deletes the
-- document.
CREATE TRIGGER cases_search_delete AFTER DELETE ON cases BEGIN
    INSERT INTO search_outbox (kind, doc, queued_at)
    VALUES ('case', OLD.id, CAST((julianday('now') - 2440587.5) * 86400000000 AS INTEGER));
END;
CREATE TRIGGER accounts_search_delete AFTER DELETE ON accounts BEGIN
    INSERT INTO search_outbox (kind, doc, queued_at)
    VALUES ('account', OLD.id, CAST((julianday('now') - 2440587.5) * 86400000000 AS INTEGER));
END;
CREATE TRIGGER residents_search_delete AFTER DELETE ON residents BEGIN
    INSERT INTO search_outbox (kind, doc, queued_at)
    VALUES ('resident', OLD.id, CAST((julianday('now') - 2440587.5) * 86400000000 AS INTEGER));
END;
-- A case document holds its applicant's name: a new name re-indexes every
-- case the account applied for.
CREATE TRIGGER accounts_search_cases AFTER UPDATE OF display_name ON accounts
WHEN OLD.display_name IS NOT NEW.display_name BEGIN
    INSERT INTO search_outbox (kind, doc, queued_at)
    SELECT 'case', id, CAST((julianday('now') - 2440587.5) * 86400000000 AS INTEGER)
    FROM cases WHERE applicant = NEW.id;
END;
