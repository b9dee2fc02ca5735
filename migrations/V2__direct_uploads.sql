-- Direct (presigned) uploads, contract `POST /api/v1/avatars/uploads`: the
-- row exists from the moment the upload URL is handed out, in status
-- 'uploading', hidden from every read until the storage event has validated
-- the file. Its dimensions are unknown until then (0), and stay 0 when the
-- file fails validation (status 'failed').

ALTER TABLE avatars DROP CONSTRAINT avatars_status_check;
ALTER TABLE avatars ADD CONSTRAINT avatars_status_check
    CHECK (status IN ('uploading', 'processing', 'ready', 'failed'));

ALTER TABLE avatars DROP CONSTRAINT avatars_width_check;
ALTER TABLE avatars DROP CONSTRAINT avatars_height_check;
ALTER TABLE avatars ADD CONSTRAINT avatars_dimensions_check
    CHECK (width >= 0 AND height >= 0
           AND (status IN ('uploading', 'failed') OR (width > 0 AND height > 0)));

-- The sweep expires direct uploads that never arrived.
CREATE INDEX avatars_uploading ON avatars (created_at)
    WHERE status = 'uploading' AND deleted_at IS NULL;
