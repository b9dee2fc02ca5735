//! What follows a soft delete, wherever it happens: the delete function
//! (contract, "Delete") and the retention rule `KEEP_AVATARS_PER_USER`
//! applied by the thumbnail function when an avatar becomes ready.
//!
//! The row is already soft-deleted (gone from every read); here the
//! process forgets its hot variants ([`avatar_adapters::cache`]) and sends the
//! AvatarDeleteEvent with every key known for the avatar, so the purge
//! function removes its objects. A failed send leaves the delete standing:
//! the purge sweep finds soft-deleted rows whose objects remain.

use avatar_adapters::cache::VariantCache;
use avatar_adapters::db::{AvatarRow, Database, DbError};
use avatar_adapters::queue::{AvatarDeleteEvent, Queue};
use avatar_domain::UserId;

/// Why an avatar was not deleted (contract, "Delete").
#[derive(Debug, thiserror::Error)]
pub enum DeleteError {
    /// The acting user does not own the avatar (403).
    #[error("not the owner")]
    NotOwner,
    /// Unknown, deleted already, or no current avatar (404).
    #[error("avatar not found")]
    NotFound,
    /// The database failed (retryable).
    #[error(transparent)]
    Db(#[from] DbError),
}

/// What a soft delete's aftermath takes: the database (variant keys, the
/// retention query), this process's hot variants and the delete queue.
/// Borrowed from the [`AppState`](crate::AppState) a binary built
/// ([`crate::AppState::deletion`]).
#[derive(Debug, Clone, Copy)]
pub struct Deletion<'a> {
    /// The database.
    pub db: &'a Database,
    /// The get function's hot variants in this process.
    pub hot: &'a VariantCache,
    /// The queue AvatarDeleteEvent goes to (`DELETE_QUEUE`).
    pub delete_queue: &'a Queue,
}

impl Deletion<'_> {
    /// Soft-deletes `avatar` for `acting`, who must own it, then
    /// [announces](Self::announce) it. Returns the deleted row.
    ///
    /// # Errors
    /// [`DeleteError`]; `NotFound` when a concurrent delete came first.
    pub async fn delete(
        &self,
        avatar: &AvatarRow,
        acting: &UserId,
    ) -> Result<AvatarRow, DeleteError> {
        if &avatar.user_id != acting {
            return Err(DeleteError::NotOwner);
        }
        let deleted = self.db.soft_delete(avatar.id, acting).await?;
        self.announced(deleted).await
    }

    /// Soft-deletes `owner`'s current avatar for `acting`, who must be
    /// `owner`, then [announces](Self::announce) it; the previous avatar
    /// becomes current. Returns the deleted row.
    ///
    /// # Errors
    /// [`DeleteError`]; `NotFound` when `owner` has no current avatar.
    pub async fn delete_current(
        &self,
        owner: &UserId,
        acting: &UserId,
    ) -> Result<AvatarRow, DeleteError> {
        if owner != acting {
            return Err(DeleteError::NotOwner);
        }
        let deleted = self.db.soft_delete_current(owner).await?;
        self.announced(deleted).await
    }

    /// The row a soft delete returned, [announced](Self::announce);
    /// `NotFound` when there was none.
    async fn announced(&self, deleted: Option<AvatarRow>) -> Result<AvatarRow, DeleteError> {
        let deleted = deleted.ok_or(DeleteError::NotFound)?;
        self.announce(&deleted).await;
        Ok(deleted)
    }

    /// Forgets `avatar`'s hot variants in this process, then sends its
    /// AvatarDeleteEvent to the delete queue (errors are logged: see the
    /// module documentation).
    pub async fn announce(&self, avatar: &AvatarRow) {
        self.hot.forget(avatar.id);
        let mut keys = vec![avatar.s3_key.clone()];
        match self.db.variants_of(avatar.id).await {
            Ok(v) => keys.extend(v.into_iter().map(|r| r.s3_key)),
            Err(e) => tracing::warn!(error = %e, "variant keys unknown; purge lists the prefixes"),
        }
        keys.sort();
        keys.dedup();
        let event = AvatarDeleteEvent::new(avatar.id, &avatar.user_id, keys);
        if let Err(e) = self.delete_queue.send_json(&event).await {
            tracing::error!(avatar_id = %avatar.id, error = %e,
                "delete event not sent; the purge sweep will remove the objects");
        } else {
            tracing::info!(avatar_id = %avatar.id, message_id = %event.message_id, "avatar soft-deleted");
        }
    }

    /// `KEEP_AVATARS_PER_USER`: soft-deletes `user`'s oldest visible
    /// avatars beyond the newest `keep` (never the current one) and
    /// announces each. Returns how many went; 0 when `keep` is 0 (keep
    /// all).
    ///
    /// # Errors
    /// [`DbError`] from the soft delete (retryable; nothing is announced
    /// then).
    pub async fn prune_beyond_keep(&self, user: &UserId, keep: u32) -> Result<usize, DbError> {
        if keep == 0 {
            return Ok(0);
        }
        let pruned = self.db.soft_delete_beyond(user, keep).await?;
        for avatar in &pruned {
            tracing::info!(avatar_id = %avatar.id, keep, "older than the newest kept; soft-deleting");
            self.announce(avatar).await;
        }
        Ok(pruned.len())
    }
}
