-- One spelling of a format in the database: an avatar's stored format is
-- kept as the wire name its variants already use ('jpeg', 'png', 'webp'),
-- not as a MIME type, so both columns read and write through the same
-- `ImageFormat` conversion. The MIME type the API shows is derived from it.

ALTER TABLE avatars RENAME COLUMN mime_type TO format;
UPDATE avatars SET format = substr(format, length('image/') + 1);
ALTER TABLE avatars ALTER COLUMN format TYPE VARCHAR(8);
ALTER TABLE avatars ADD CONSTRAINT avatars_format_check
    CHECK (format IN ('jpeg', 'png', 'webp'));
