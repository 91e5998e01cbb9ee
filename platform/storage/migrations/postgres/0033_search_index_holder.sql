-- One embedded index per database: an index kept in a node's own
-- directory (tantivy) holds every document only if it alone applies the
-- outbox, since applied entries are deleted. The row of its backend names
-- the index that applies it (the id kept in that index's directory) and
-- when it was last seen doing so; an embedded index of another node stands
-- by while the holder is seen, and takes over (rebuilding itself from the
-- database first) once it is not. A shared Meilisearch index names none.
ALTER TABLE search_indexers ADD COLUMN index_id TEXT COLLATE "C";
ALTER TABLE search_indexers ADD COLUMN seen_at BIGINT;
