-- Configurable thumbnail sizes (THUMBNAIL_SIZES, issue 13): any square
-- side from 16 to 4096 px (domain::Size::MIN_SIDE..=MAX_SIDE), not only the
-- contract's three. The Rust type validates the range; the table keeps the
-- shape.
ALTER TABLE avatar_variants DROP CONSTRAINT avatar_variants_size_check;
ALTER TABLE avatar_variants ADD CONSTRAINT avatar_variants_size_check
    CHECK (size = 'original' OR size ~ '^[1-9][0-9]{1,3}x[1-9][0-9]{1,3}$');
