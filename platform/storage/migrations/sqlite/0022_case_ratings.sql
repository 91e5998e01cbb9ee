-- 好差评: an applicant's rating of a finished case, once per case (see the
-- PostgreSQL migration).
CREATE TABLE case_ratings (
    case_id     TEXT    NOT NULL PRIMARY KEY REFERENCES cases (id),
    tenant_path TEXT    NOT NULL,
    score       INTEGER NOT NULL CHECK (score BETWEEN 1 AND 5),
    comment     TEXT    NOT NULL,
    rated_by    TEXT    NOT NULL,
    rated_at    INTEGER NOT NULL
);
CREATE INDEX case_ratings_tenant ON case_ratings (tenant_path, rated_at);

-- Whether an attachment's file was uploaded to the platform and is kept in
-- its document store (by SM3): only those are ever served. Metadata recorded
-- by a client that keeps the file itself stays metadata, so a digest seen in
-- one case's history never opens a file through another case.
ALTER TABLE case_attachments ADD COLUMN stored BOOLEAN NOT NULL DEFAULT FALSE;
