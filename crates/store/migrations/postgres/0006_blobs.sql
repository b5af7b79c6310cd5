-- File storage: one row per blob; its bytes live in the configured blob storage under `storage_key`.
-- `size` and `checksum` (SHA-256, hex) are set when the bytes arrive, `completed` (0/1) when the client
-- marks the upload complete. Rows never completed are purged after the upload window.
CREATE TABLE blobs (
    id                BIGSERIAL PRIMARY KEY,
    uid               TEXT    NOT NULL UNIQUE,
    app_id            BIGINT  NOT NULL REFERENCES apps(id) ON DELETE CASCADE,
    user_id           BIGINT  NOT NULL,
    name              TEXT    NOT NULL,
    content_type      TEXT    NOT NULL,
    size              BIGINT,
    checksum          TEXT,
    public            BIGINT  NOT NULL DEFAULT 0,
    completed         BIGINT  NOT NULL DEFAULT 0,
    storage_key       TEXT    NOT NULL,
    upload_token_hash TEXT,
    created_at        BIGINT  NOT NULL,
    updated_at        BIGINT  NOT NULL,
    completed_at      BIGINT
);
CREATE INDEX blobs_owner ON blobs (app_id, user_id, completed, id);
CREATE INDEX blobs_pending ON blobs (completed, created_at);
