-- Each batch the search indexer applies is given a token, recorded here as
-- the batch is counted and kept in the embedded index's applied mark. An
-- index whose last batch the database does not know holds changes the
-- database lost (restored to an earlier point, its index kept) and is
-- rebuilt before it applies again. NULL: nothing applied yet, or applied by
-- a version that gave batches no token.
ALTER TABLE search_indexers ADD COLUMN applied_batch TEXT COLLATE "C";
