//! Hot variants in memory: what a GET of `/api/v1/avatars/{id}` serves —
//! the ETag and the bytes of one variant of a servable avatar — kept by the
//! get function so a hot image costs no storage read and no variant
//! lookup.
//!
//! Safe because the bytes of an id change only when an operator re-renders
//! them (`backfill --rerender-before`), and then every cache may keep the
//! old ones for the variants' max-age (contract, "Caching"); so an entry is
//! held at most that long ([`HELD_AT_MOST`]) too. Whether the avatar is
//! still visible can change at any time. So a hit is *trusted* only
//! for `HOT_CACHE_TTL_SECONDS` after the database last confirmed the
//! avatar visible (default 0: never, so every hit costs one indexed
//! query and a delete is seen by every instance at once, as the
//! contract's "disappears from every read" asks). A delete also forgets
//! the avatar in the process that handles it ([`VariantCache::forget`]: all
//! of `avatar-local`, or a Knative pod running both); with a TTL above 0
//! another process — a different Lambda instance of the get function —
//! may serve a deleted avatar for up to that long.
//!
//! Bounded by bytes (`HOT_CACHE_BYTES`, default 64 MiB; 0 turns the cache
//! off): the least recently used entries go first. One lock around a map
//! and a recency list; each request holds it for a lookup or an insert.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use bytes::Bytes;

use avatar_domain::{AvatarId, ImageFormat, Size};

/// How long an entry is held at most: one day, the `max-age` of a
/// variant's `Cache-Control` (contract, "Caching"), after which an HTTP
/// cache would fetch a re-rendered variant's new bytes too.
pub const HELD_AT_MOST: Duration = Duration::from_secs(86_400);

/// What a GET asks for: the avatar, the size, and the format if the query
/// names one (none: the avatar's stored format).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct HotKey {
    /// The avatar.
    pub avatar: AvatarId,
    /// `size`.
    pub size: Size,
    /// `format`, when given.
    pub format: Option<ImageFormat>,
}

/// What a GET answers for one variant of a servable avatar.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HotVariant {
    /// The format served (`Content-Type`).
    pub format: ImageFormat,
    /// The stored variant's ETag (its content hash).
    pub etag: String,
    /// The bytes to serve; `None` for a variant answered with a redirect
    /// (over `REDIRECT_ABOVE_BYTES`): then its object key.
    pub bytes: Option<Bytes>,
    /// The object key, for the redirect.
    pub s3_key: String,
}

impl HotVariant {
    /// Bytes this entry holds (its weight against the capacity).
    fn weight(&self) -> u64 {
        (self.bytes.as_ref().map_or(0, Bytes::len) + self.etag.len() + self.s3_key.len() + 64)
            as u64
    }
}

/// A hit: the answer held, and whether it may be served without asking
/// the database again if the avatar is still visible.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hit {
    /// The answer held.
    pub variant: HotVariant,
    /// The database confirmed the avatar visible less than the TTL ago.
    pub trusted: bool,
}

#[derive(Debug)]
struct Entry {
    value: HotVariant,
    /// When the database last said the avatar is visible.
    confirmed: Instant,
    /// When it was inserted.
    stored: Instant,
    /// Its position in the recency list.
    used: u64,
}

#[derive(Debug, Default)]
struct Inner {
    entries: HashMap<HotKey, Entry>,
    /// Last use → key: the least recently used first.
    recency: BTreeMap<u64, HotKey>,
    clock: u64,
    bytes: u64,
}

impl Inner {
    fn touch(&mut self, key: HotKey) {
        self.clock += 1;
        let clock = self.clock;
        if let Some(entry) = self.entries.get_mut(&key) {
            self.recency.remove(&entry.used);
            entry.used = clock;
            self.recency.insert(clock, key);
        }
    }

    fn remove(&mut self, key: &HotKey) {
        if let Some(entry) = self.entries.remove(key) {
            self.recency.remove(&entry.used);
            self.bytes -= entry.value.weight();
        }
    }
}

/// The hot variants of one process (see the module documentation).
#[derive(Debug)]
pub struct VariantCache {
    inner: Mutex<Inner>,
    capacity: u64,
    ttl: Duration,
    held_at_most: Duration,
}

impl VariantCache {
    /// A cache of at most `capacity` bytes whose hits are trusted for
    /// `ttl` after their avatar was last confirmed visible, each entry held
    /// at most [`HELD_AT_MOST`]; a capacity of 0 keeps nothing.
    pub fn new(capacity: u64, ttl: Duration) -> Self {
        Self {
            inner: Mutex::default(),
            capacity,
            ttl,
            held_at_most: HELD_AT_MOST,
        }
    }

    /// The same cache holding each entry at most `held` (tests).
    pub fn holding_at_most(self, held: Duration) -> Self {
        Self {
            held_at_most: held,
            ..self
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // A panic while holding the lock leaves a consistent map (every
        // update is completed before anything can panic); keep using it.
        self.inner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The answer to `key`, when held (and inserted less than the hold
    /// ago; an older entry is dropped); [`Hit::trusted`] when its avatar
    /// was confirmed visible less than the TTL ago (else the caller asks
    /// the database and, if still visible, calls [`Self::confirm`]).
    pub fn get(&self, key: HotKey) -> Option<Hit> {
        let mut inner = self.lock();
        if inner
            .entries
            .get(&key)
            .is_some_and(|e| e.stored.elapsed() >= self.held_at_most)
        {
            inner.remove(&key);
            return None;
        }
        inner.touch(key);
        let entry = inner.entries.get(&key)?;
        Some(Hit {
            variant: entry.value.clone(),
            trusted: entry.confirmed.elapsed() < self.ttl,
        })
    }

    /// Records that the database has just confirmed `key`'s avatar
    /// visible.
    pub fn confirm(&self, key: HotKey) {
        if let Some(entry) = self.lock().entries.get_mut(&key) {
            entry.confirmed = Instant::now();
        }
    }

    /// Keeps `value`, evicting the least recently used entries to stay
    /// within the capacity. An entry larger than an eighth of the
    /// capacity is not kept (one huge original must not flush every hot
    /// thumbnail).
    pub fn insert(&self, key: HotKey, value: HotVariant) {
        let weight = value.weight();
        if weight > self.capacity / 8 {
            return;
        }
        let mut inner = self.lock();
        inner.remove(&key);
        while inner.bytes + weight > self.capacity {
            let Some((_, oldest)) = inner.recency.pop_first() else {
                break;
            };
            if let Some(entry) = inner.entries.remove(&oldest) {
                inner.bytes -= entry.value.weight();
            }
        }
        inner.clock += 1;
        let used = inner.clock;
        let now = Instant::now();
        inner.recency.insert(used, key);
        inner.bytes += weight;
        inner.entries.insert(
            key,
            Entry {
                value,
                confirmed: now,
                stored: now,
                used,
            },
        );
    }

    /// Forgets every variant of `avatar` (it was deleted).
    pub fn forget(&self, avatar: AvatarId) {
        let mut inner = self.lock();
        let keys: Vec<_> = inner
            .entries
            .keys()
            .filter(|key| key.avatar == avatar)
            .copied()
            .collect();
        for key in keys {
            inner.remove(&key);
        }
    }

    /// Bytes held now.
    pub fn bytes(&self) -> u64 {
        self.lock().bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hot(len: usize) -> HotVariant {
        HotVariant {
            format: ImageFormat::Jpeg,
            etag: "e".into(),
            bytes: Some(Bytes::from(vec![0u8; len])),
            s3_key: "k".into(),
        }
    }

    fn k(avatar: AvatarId, size: Size) -> HotKey {
        HotKey {
            avatar,
            size,
            format: None,
        }
    }

    #[test]
    fn least_recently_used_go_first_and_the_bytes_stay_bounded() {
        let cache = VariantCache::new(10_000, Duration::from_secs(60));
        let (a, b, c) = (AvatarId::new(), AvatarId::new(), AvatarId::new());
        cache.insert(k(a, Size::THUMB_300), hot(1000));
        cache.insert(k(b, Size::THUMB_300), hot(1000));
        assert!(cache.get(k(a, Size::THUMB_300)).is_some()); // a is now the most recent
        for _ in 0..7 {
            cache.insert(k(c, Size::THUMB_100), hot(1000)); // replaces itself
        }
        cache.insert(k(c, Size::THUMB_300), hot(1100));
        // 4 entries of ~1.1 KB, nothing evicted yet.
        assert_eq!(cache.bytes(), 3 * 1066 + 1166);
        // Six more overflow 10 000 bytes: the least recently used goes.
        for i in 0..6 {
            cache.insert(k(AvatarId::new(), Size::THUMB_100), hot(1000 + i));
        }
        assert!(cache.bytes() <= 10_000, "{}", cache.bytes());
        assert!(
            cache.get(k(b, Size::THUMB_300)).is_none(),
            "b was the least recently used"
        );
        assert!(cache.get(k(a, Size::THUMB_300)).is_some());
        assert!(cache.get(k(c, Size::THUMB_300)).is_some());
        // Too large for the cache (over an eighth): not kept.
        cache.insert(k(a, Size::THUMB_100), hot(5000));
        assert!(cache.get(k(a, Size::THUMB_100)).is_none());
    }

    #[test]
    fn hits_are_trusted_for_the_ttl_after_a_confirmation_and_deletes_forget_them() {
        let cache = VariantCache::new(1 << 20, Duration::from_millis(50));
        let a = AvatarId::new();
        cache.insert(k(a, Size::THUMB_300), hot(10));
        cache.insert(k(a, Size::THUMB_100), hot(10));
        let hit = cache.get(k(a, Size::THUMB_300)).unwrap();
        assert_eq!(hit.variant, hot(10));
        assert!(hit.trusted, "just inserted, so just confirmed");
        std::thread::sleep(Duration::from_millis(60));
        let hit = cache.get(k(a, Size::THUMB_300)).unwrap();
        assert!(!hit.trusted, "past the TTL: the database is asked again");
        assert_eq!(hit.variant, hot(10), "the bytes stay (within the hold)");
        cache.confirm(k(a, Size::THUMB_300));
        assert!(cache.get(k(a, Size::THUMB_300)).unwrap().trusted);
        assert!(!cache.get(k(a, Size::THUMB_100)).unwrap().trusted);
        cache.forget(a);
        assert!(
            cache.get(k(a, Size::THUMB_300)).is_none()
                && cache.get(k(a, Size::THUMB_100)).is_none()
        );
        assert_eq!(cache.bytes(), 0);
        // TTL 0 (the default): held, never trusted.
        let strict = VariantCache::new(1 << 20, Duration::ZERO);
        strict.insert(k(a, Size::THUMB_300), hot(10));
        assert!(!strict.get(k(a, Size::THUMB_300)).unwrap().trusted);
        // Capacity 0: off.
        let off = VariantCache::new(0, Duration::from_secs(60));
        off.insert(k(a, Size::THUMB_300), hot(1));
        assert!(off.get(k(a, Size::THUMB_300)).is_none());
    }

    #[test]
    fn entries_are_held_no_longer_than_the_variants_max_age() {
        let cache = VariantCache::new(1 << 20, Duration::from_secs(60))
            .holding_at_most(Duration::from_millis(50));
        let a = AvatarId::new();
        cache.insert(k(a, Size::THUMB_300), hot(10));
        cache.confirm(k(a, Size::THUMB_300));
        assert!(cache.get(k(a, Size::THUMB_300)).is_some());
        std::thread::sleep(Duration::from_millis(60));
        // Confirming visibility does not extend the hold: a re-rendered
        // variant's new bytes are read again from then on.
        assert!(cache.get(k(a, Size::THUMB_300)).is_none());
        assert_eq!(cache.bytes(), 0);
        assert_eq!(HELD_AT_MOST, Duration::from_secs(86_400));
    }
}
