-- Avatars and their stored variants. Grown from the seed's `avatars` table:
-- one status column instead of upload/processing pairs (the contract has
-- processing | ready | failed), dimensions for metadata, soft delete, and
-- variants in their own table so that a GET answers 304 from one row.

CREATE TABLE avatars (
    id              UUID         PRIMARY KEY,
    user_id         VARCHAR(64)  NOT NULL,
    file_name       VARCHAR(255) NOT NULL,
    mime_type       VARCHAR(100) NOT NULL,
    size_bytes      BIGINT       NOT NULL CHECK (size_bytes >= 0),
    width           INTEGER      NOT NULL CHECK (width > 0),
    height          INTEGER      NOT NULL CHECK (height > 0),
    s3_key          VARCHAR(500) NOT NULL,
    status          VARCHAR(16)  NOT NULL DEFAULT 'processing'
                    CHECK (status IN ('processing', 'ready', 'failed')),
    idempotency_key VARCHAR(128),
    created_at      TIMESTAMPTZ  NOT NULL DEFAULT now(),
    updated_at      TIMESTAMPTZ  NOT NULL DEFAULT now(),
    deleted_at      TIMESTAMPTZ
);

-- Per-user listing and the "current avatar": newest first, deleted excluded.
CREATE INDEX avatars_user_created ON avatars (user_id, created_at DESC, id DESC)
    WHERE deleted_at IS NULL;

-- Idempotency-Key: at most one avatar per (user, key); keys older than 24 h
-- are cleared before reuse.
CREATE UNIQUE INDEX avatars_user_idempotency ON avatars (user_id, idempotency_key)
    WHERE idempotency_key IS NOT NULL;

-- Purge sweep: soft-deleted rows whose objects may remain.
CREATE INDEX avatars_deleted ON avatars (deleted_at) WHERE deleted_at IS NOT NULL;

CREATE TABLE avatar_variants (
    avatar_id  UUID         NOT NULL REFERENCES avatars (id) ON DELETE CASCADE,
    size       VARCHAR(16)  NOT NULL CHECK (size IN ('100x100', '300x300', '1200x1200', 'original')),
    format     VARCHAR(8)   NOT NULL CHECK (format IN ('jpeg', 'png', 'webp')),
    s3_key     VARCHAR(500) NOT NULL,
    size_bytes BIGINT       NOT NULL CHECK (size_bytes >= 0),
    width      INTEGER      NOT NULL,
    height     INTEGER      NOT NULL,
    etag       VARCHAR(80)  NOT NULL,
    created_at TIMESTAMPTZ  NOT NULL DEFAULT now(),
    PRIMARY KEY (avatar_id, size, format)
);
