-- Per-user upload rate (UPLOADS_PER_USER_PER_MINUTE), counted in the
-- database so that it holds across every function instance (Lambda runs
-- many, each with its own memory): one row per user and clock minute,
-- incremented atomically by each upload attempt. The sweep removes rows
-- older than a few minutes.
CREATE TABLE upload_counts (
    user_id VARCHAR(64) NOT NULL,
    minute  TIMESTAMPTZ NOT NULL,
    uploads INTEGER     NOT NULL CHECK (uploads > 0),
    PRIMARY KEY (user_id, minute)
);
