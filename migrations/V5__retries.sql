-- Retries that outlast an outage (issue 15). `attempts`: failed processing
-- attempts of the avatar, counted by the thumbnail function — the retry
-- counter where SQS's ApproximateReceiveCount does not reach the function
-- (Knative's SQS source). `redrives` / `redriven_at`: how often, and when
-- last, the sweep sent the work of an avatar stuck in `processing` (or
-- `uploading` with its file arrived) again.
ALTER TABLE avatars
    ADD COLUMN attempts    INTEGER NOT NULL DEFAULT 0,
    ADD COLUMN redrives    INTEGER NOT NULL DEFAULT 0,
    ADD COLUMN redriven_at TIMESTAMPTZ;

-- The sweep's look-up of stuck avatars.
CREATE INDEX avatars_in_progress ON avatars (updated_at)
    WHERE deleted_at IS NULL AND status IN ('processing', 'uploading');
