-- The square the user chooses (issue 22 §3; contract, "Upload": `crop`):
-- in the upright image's pixels, kept with the avatar so that every
-- variant, on-demand render and backfill cuts the same square. NULL (all
-- four): the contract's centred crop. The service checks it against the
-- image; the table keeps the shape.
ALTER TABLE avatars
    ADD COLUMN crop_x      INTEGER,
    ADD COLUMN crop_y      INTEGER,
    ADD COLUMN crop_width  INTEGER,
    ADD COLUMN crop_height INTEGER,
    ADD CONSTRAINT avatars_crop_check CHECK (
        (crop_x IS NULL AND crop_y IS NULL AND crop_width IS NULL AND crop_height IS NULL)
        OR (crop_x >= 0 AND crop_y >= 0 AND crop_width > 0 AND crop_height > 0
            AND abs(crop_width - crop_height) <= 1));
