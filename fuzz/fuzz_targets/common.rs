//! What every image target shares: one pixel budget, so `-malloc_limit_mb`
//! (see `scripts/fuzz.sh`) turns an allocation past it into a failure.

use avatar_pipeline::Limits;

/// 4 MP: the largest decode is 4 M × 8 bytes (16-bit RGBA) = 32 MiB.
pub const LIMITS: Limits = Limits {
    max_pixels: 4_000_000,
};
