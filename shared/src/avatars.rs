//! Avatars in the stores: renditions in the blob store under
//! `avatars/{user}/{avatar id}/`, the record on the user, presigned
//! uploads under `uploads/{user}/{uuid}` tracked by one upload record.
//! The image work itself (decoding, cropping, encoding) is the
//! `media-upload` crate's; this module never links an image codec.
//!
//! | item | pk | sk | notes |
//! |---|---|---|---|
//! | upload record | `USER#{id}` | `AVATAR_UPLOAD` | the latest presigned upload: `key`, `content_type`, `content_length`, `status` (`pending`/`rejected`), `reason`; TTL one day |
//! | upload-URL counter | `USER#{id}` | `AVATAR_URLS#{hour}` | `count`; TTL two hours |
//!
//! Ordering keeps every failure safe: new renditions are written before the
//! record that names them, and old ones are deleted only after the record
//! no longer does. A crash in between leaves unreferenced blobs under the
//! user's folder, which account deletion removes with the folder.

use std::time::Duration;

use bytes::Bytes;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use time::OffsetDateTime;

use crate::domain::{Avatar, AvatarLinks, User};
use crate::files::now_secs;
use crate::ports::Served;
use crate::ports::item_store::{Attrs, Change, Write};
use crate::service_error::StorageError;
use std::sync::Arc;

use crate::ports::{BlobStore, ItemStore};
use crate::repo::UserRepo;

/// How long avatar links work.
pub const LINK_TTL: Duration = Duration::from_secs(600);

/// An avatar's images never change under their key (a new avatar gets new
/// keys), so a browser may keep them for a year; `private`: they are one
/// person's, behind signed links, not for shared caches.
pub const AVATAR_CACHE_CONTROL: &str = "private, max-age=31536000, immutable";
/// How long a presigned upload URL works.
pub const UPLOAD_URL_TTL: Duration = Duration::from_secs(300);
/// Upload URLs a user may ask for per hour.
pub const UPLOAD_URLS_PER_HOUR: i64 = 20;

use crate::blob_keys;
use crate::table_keys::avatar_upload as upload_record_key;

/// One encoded rendition, ready to store.
pub struct NewRendition {
    pub side: u32,
    pub bytes: Vec<u8>,
}

/// The latest presigned upload of a user and what became of it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UploadRecord {
    pub key: String,
    pub content_type: String,
    pub content_length: u64,
    pub status: UploadStatus,
    #[serde(default)]
    pub reason: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum UploadStatus {
    /// The URL was handed out; the upload has not been processed yet.
    Pending,
    /// The upload did not match what was signed, or was not a usable image.
    Rejected,
}

/// The avatar service, over the stores it uses: the renditions and uploads
/// in the blob store, the upload record and counters in the item store,
/// the pointer on the user record.
#[derive(Clone)]
pub struct Avatars {
    store: Arc<dyn ItemStore>,
    blobs: Arc<dyn BlobStore>,
    users: UserRepo,
}

impl Avatars {
    pub fn new(store: Arc<dyn ItemStore>, blobs: Arc<dyn BlobStore>, users: UserRepo) -> Self {
        Avatars {
            store,
            blobs,
            users,
        }
    }

    /// Presigned links to the user's avatar, if there is one.
    pub async fn links(&self, user: &User) -> Result<Option<AvatarLinks>, StorageError> {
        let Some(avatar) = &user.avatar else {
            return Ok(None);
        };
        let url = self.blobs.presign_get(&avatar.key, LINK_TTL, None).await?;
        let thumbnail_url = self
            .blobs
            .presign_get(&avatar.thumbnail_key, LINK_TTL, None)
            .await?;
        Ok(Some(AvatarLinks {
            url,
            thumbnail_url,
            expires_at: OffsetDateTime::now_utc() + LINK_TTL,
            content_type: avatar.content_type.clone(),
            updated_at: avatar.updated_at,
        }))
    }

    /// The user as they see themselves: their public view with avatar links.
    pub async fn public_user(
        &self,
        user: &User,
    ) -> Result<crate::domain::PublicUser, StorageError> {
        let mut public = crate::domain::PublicUser::from(user);
        public.avatar = self.links(user).await?;
        Ok(public)
    }

    /// Makes `renditions` (largest first) the user's avatar: blobs first, then
    /// the user record (conditional on its version, retried when someone else
    /// changed the user meanwhile), then the previous avatar's blobs go.
    /// `Ok(None)` when the user no longer exists (nothing is left behind).
    pub async fn install(
        &self,
        user_id: &str,
        content_type: &str,
        renditions: Vec<NewRendition>,
    ) -> Result<Option<User>, StorageError> {
        let [large, small] = <[NewRendition; 2]>::try_from(renditions)
            .map_err(|_| StorageError::Bug("an avatar needs two renditions"))?;
        let id = uuid::Uuid::now_v7().to_string();
        let ext = if content_type == "image/png" {
            "png"
        } else {
            "jpg"
        };
        let avatar = Avatar {
            key: blob_keys::avatar_rendition(user_id, &id, large.side, ext),
            thumbnail_key: blob_keys::avatar_rendition(user_id, &id, small.side, ext),
            id,
            content_type: content_type.to_owned(),
            side: large.side,
            thumbnail_side: small.side,
            updated_at: OffsetDateTime::now_utc(),
        };
        let written = async {
            for (key, r) in [(&avatar.key, large), (&avatar.thumbnail_key, small)] {
                let served = Served::inline(
                    content_type,
                    &format!("avatar-{}.{ext}", r.side),
                    AVATAR_CACHE_CONTROL,
                );
                self.blobs.put(key, Bytes::from(r.bytes), &served).await?;
            }
            self.set_avatar(user_id, Some(avatar.clone())).await
        }
        .await;
        match written {
            Ok(Some((user, previous))) => {
                if let Some(old) = previous {
                    self.delete_blobs(&old).await;
                }
                Ok(Some(user))
            }
            Ok(None) | Err(_) => {
                // Not recorded: the new blobs must not linger.
                self.delete_blobs(&avatar).await;
                written.map(|_| None)
            }
        }
    }

    /// Removes the user's avatar: record first, then its blobs. `Ok(false)`
    /// when there was none.
    pub async fn remove(&self, user_id: &str) -> Result<bool, StorageError> {
        let previous = match self.set_avatar(user_id, None).await? {
            Some((_, previous)) => previous,
            None => None,
        };
        self.store.delete(upload_record_key(user_id), None).await?;
        match previous {
            Some(old) => {
                self.delete_blobs(&old).await;
                Ok(true)
            }
            None => Ok(false),
        }
    }

    /// Sets the user's avatar with the profile's conditional write; returns the
    /// saved user and the avatar it replaced (`None` when the user is gone).
    async fn set_avatar(
        &self,
        user_id: &str,
        avatar: Option<Avatar>,
    ) -> Result<Option<(User, Option<Avatar>)>, StorageError> {
        for _ in 0..5 {
            let Some(mut user) = self.users.get(user_id).await? else {
                return Ok(None);
            };
            if user.avatar == avatar {
                return Ok(Some((user, None)));
            }
            let previous = std::mem::replace(&mut user.avatar, avatar.clone());
            if let Some(saved) = self.users.save(&user).await? {
                return Ok(Some((saved, previous)));
            }
        }
        Err(StorageError::Contended)
    }

    async fn delete_blobs(&self, avatar: &Avatar) {
        for key in avatar.keys() {
            if let Err(e) = self.blobs.delete(key).await {
                // Left under the user's folder; account deletion removes it.
                tracing::warn!(error = %e, key, "avatar: could not delete a blob");
            }
        }
    }

    /// Deletes every avatar and upload object of a user (account deletion).
    pub async fn delete_all_for_user(&self, user_id: &str) -> Result<(), StorageError> {
        for prefix in [
            blob_keys::avatars_of(user_id),
            blob_keys::uploads_of(user_id),
        ] {
            for key in self.blobs.list(&prefix).await? {
                self.blobs.delete(&key).await?;
            }
        }
        self.store.delete(upload_record_key(user_id), None).await?;
        Ok(())
    }

    pub async fn upload_record(&self, user_id: &str) -> Result<Option<UploadRecord>, StorageError> {
        match self.store.get(&upload_record_key(user_id)).await? {
            Some(item) => Ok(Some(crate::repo::from_item(item)?)),
            None => Ok(None),
        }
    }

    /// Records a new pending upload (replacing an older one).
    pub async fn save_upload_record(
        &self,
        user_id: &str,
        record: &UploadRecord,
    ) -> Result<(), StorageError> {
        self.save_upload_record_with(user_id, record, Vec::new())
            .await
    }

    /// [`Self::save_upload_record`] with `extra` writes in the same commit
    /// (an idempotency key's answer).
    pub async fn save_upload_record_with(
        &self,
        user_id: &str,
        record: &UploadRecord,
        extra: Vec<Write>,
    ) -> Result<(), StorageError> {
        let mut item: Attrs = crate::repo::to_item(record, &upload_record_key(user_id))?;
        item.insert("expires_at".into(), json!(now_secs() + 86_400));
        let put = Write::Put {
            item,
            condition: None,
        };
        self.store.write_with(put, extra).await?;
        Ok(())
    }

    /// Marks the upload `key` rejected (unless a newer upload replaced it).
    pub async fn reject_upload(
        &self,
        user_id: &str,
        key: &str,
        reason: &str,
    ) -> Result<(), StorageError> {
        let result = self
            .store
            .update(
                upload_record_key(user_id),
                vec![
                    Change::Set("status".into(), json!(UploadStatus::Rejected)),
                    Change::Set("reason".into(), Value::from(reason)),
                ],
                Some(crate::ports::Condition::Equals(
                    "key".into(),
                    Value::from(key),
                )),
            )
            .await;
        match result {
            Ok(_) | Err(crate::ports::StoreError::ConditionFailed) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    /// Clears the upload record once `key` is processed (unless a newer one replaced it).
    pub async fn finish_upload(&self, user_id: &str, key: &str) -> Result<(), StorageError> {
        let mine = crate::ports::Condition::Equals("key".into(), Value::from(key));
        match self
            .store
            .delete(upload_record_key(user_id), Some(mine))
            .await
        {
            Ok(_) | Err(crate::ports::StoreError::ConditionFailed) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    /// Counts one upload URL against the hourly limit: an atomic increment, so
    /// parallel requests can never exceed it. `Err(seconds to wait)` when over.
    pub async fn count_upload_url(&self, user_id: &str) -> Result<Result<(), u64>, StorageError> {
        let now = now_secs();
        let hour = now / 3600;
        let item = self
            .store
            .update(
                crate::table_keys::avatar_url_counter(user_id, hour),
                vec![
                    Change::Add("count".into(), 1),
                    Change::Set("expires_at".into(), json!((hour + 2) * 3600)),
                ],
                None,
            )
            .await?;
        let count = item.get("count").and_then(Value::as_i64).unwrap_or(0);
        if count > UPLOAD_URLS_PER_HOUR {
            Ok(Err(((hour + 1) * 3600 - now).max(1) as u64))
        } else {
            Ok(Ok(()))
        }
    }
}
