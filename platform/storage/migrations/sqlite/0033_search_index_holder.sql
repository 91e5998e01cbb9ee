-- One embedded index per database (see the PostgreSQL migration): the
-- index that applies the outbox, and when it was last seen doing so.
ALTER TABLE search_indexers ADD COLUMN index_id TEXT;
ALTER TABLE search_indexers ADD COLUMN seen_at INTEGER;
