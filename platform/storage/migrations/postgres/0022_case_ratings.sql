-- 好差评: an applicant's rating of a finished case, once per case — a score
-- from 1 (非常不满意) to 5 (非常满意) and a comment (required for 1 or 2, so
-- a poor rating says what went wrong).
CREATE TABLE case_ratings (
    case_id     TEXT COLLATE "C" NOT NULL PRIMARY KEY REFERENCES cases (id),
    tenant_path TEXT COLLATE "C" NOT NULL,
    score       BIGINT NOT NULL CHECK (score BETWEEN 1 AND 5),
    comment     TEXT   NOT NULL,
    rated_by    TEXT   NOT NULL,
    rated_at    BIGINT NOT NULL
);
CREATE INDEX case_ratings_tenant ON case_ratings (tenant_path, rated_at);

GRANT SELECT, INSERT ON case_ratings TO civitas_app;
ALTER TABLE case_ratings ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_subtree ON case_ratings
    USING (civitas_in_scope(tenant_path)) WITH CHECK (civitas_in_scope(tenant_path));

-- Whether an attachment's file was uploaded to the platform and is kept in
-- its document store (by SM3): only those are ever served. Metadata recorded
-- by a client that keeps the file itself stays metadata, so a digest seen in
-- one case's history never opens a file through another case.
ALTER TABLE case_attachments ADD COLUMN stored BOOLEAN NOT NULL DEFAULT FALSE;
