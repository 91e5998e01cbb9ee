-- The token of the last batch the search indexer counted (see the
-- PostgreSQL migration).
ALTER TABLE search_indexers ADD COLUMN applied_batch TEXT;
