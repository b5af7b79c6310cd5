//! File storage ("blobs", docs/protocol.md#rest-blobs): a blob is a row that describes a file (name, type,
//! owner, size, checksum, public or private) and an object with its bytes in a `BlobStorage` — the local
//! disk or an S3-compatible bucket (`palaver-storage`).
//!
//! Life of a blob: `create` (the row, and a one-time upload token the client gets inside an upload URL),
//! `upload` (the bytes, streamed through a size limit and a SHA-256 while they are written), `complete`
//! (the client says it is done; only then can the file be downloaded). Blobs never completed are removed
//! by `purge_orphans` once their upload window is over.
//!
//! Who may read: anyone for a public blob; for a private one its owner, and every user with whom its uid
//! was shared — the uid appears in an attachment of a message in a dialog the user is a member of (or in a
//! broadcast dialog of the app, which everyone reads). Only the owner changes or deletes a blob.
//!
//! `BlobStore` (at the end) is where blob rows are kept.

use crate::credentials::token_hash;
use crate::error::StoreResult;
use crate::sessions::Caller;
use crate::{Core, CoreError, CoreResult};
use async_trait::async_trait;
use sha2::{Digest, Sha256};
use std::io;
use std::ops::Range;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;
use subtle::ConstantTimeEq;
use tokio::io::{AsyncRead, ReadBuf};

/// The bytes of a stored object (or of a range of it), read as they come.
pub type BlobReader = Pin<Box<dyn AsyncRead + Send>>;

/// Where the bytes of files live. Keys are `[A-Za-z0-9_-]` segments joined by `/`. Implementations stream:
/// none holds a whole file in memory.
#[async_trait]
pub trait BlobStorage: Send + Sync + 'static {
    /// Stores everything `data` yields under `key`, replacing what was there; returns the number of bytes.
    /// When it fails (also when `data` fails), nothing new is left under `key`.
    async fn put(&self, key: &str, data: &mut (dyn AsyncRead + Send + Unpin)) -> io::Result<u64>;
    /// Reads the object, or only the bytes `range` of it (which must lie within the object). A missing
    /// object is an `io::ErrorKind::NotFound` error.
    async fn get(&self, key: &str, range: Option<Range<u64>>) -> io::Result<BlobReader>;
    /// Removes the object; a missing one is not an error.
    async fn delete(&self, key: &str) -> io::Result<()>;
    /// The object's size, `None` when there is no such object.
    async fn size(&self, key: &str) -> io::Result<Option<u64>>;
    /// Where the objects go, for the log.
    fn describe(&self) -> String;
}

/// The storage of a `Core` nobody gave one (unit tests of other services): every call fails.
pub struct Unconfigured;

fn unconfigured() -> io::Error {
    io::Error::other("file storage is not configured")
}

#[async_trait]
impl BlobStorage for Unconfigured {
    async fn put(&self, _: &str, _: &mut (dyn AsyncRead + Send + Unpin)) -> io::Result<u64> {
        Err(unconfigured())
    }
    async fn get(&self, _: &str, _: Option<Range<u64>>) -> io::Result<BlobReader> {
        Err(unconfigured())
    }
    async fn delete(&self, _: &str) -> io::Result<()> {
        Err(unconfigured())
    }
    async fn size(&self, _: &str) -> io::Result<Option<u64>> {
        Err(unconfigured())
    }
    fn describe(&self) -> String {
        "none".into()
    }
}

/// The storage and the rules' numbers.
#[derive(Clone)]
pub struct BlobConfig {
    pub storage: Arc<dyn BlobStorage>,
    /// Largest file, in bytes.
    pub max_size: u64,
    /// How long an upload URL works; blobs still not completed after that are deleted.
    pub upload_ttl: Duration,
    /// Base URL (`https://files.example.com`) of upload and download URLs handed out; when unset they
    /// point back at the host and scheme each request came to.
    pub public_url: Option<String>,
}

impl BlobConfig {
    /// ConnectyCube's limit: 100 MB per file.
    pub const DEFAULT_MAX_SIZE: u64 = 100 * 1024 * 1024;
    pub const DEFAULT_UPLOAD_TTL: Duration = Duration::from_secs(60 * 60);

    pub fn new(storage: Arc<dyn BlobStorage>) -> BlobConfig {
        BlobConfig {
            storage,
            max_size: BlobConfig::DEFAULT_MAX_SIZE,
            upload_ttl: BlobConfig::DEFAULT_UPLOAD_TTL,
            public_url: None,
        }
    }
}

impl Default for BlobConfig {
    fn default() -> Self {
        BlobConfig::new(Arc::new(Unconfigured))
    }
}

/// A file's row. Times are Unix milliseconds.
#[derive(Debug, Clone, PartialEq)]
pub struct Blob {
    pub id: i64,
    pub app_id: i64,
    /// Random hex with at least one letter, so it is never mistaken for an id.
    pub uid: String,
    pub owner_id: i64,
    pub name: String,
    pub content_type: String,
    /// Bytes received, once uploaded.
    pub size: Option<i64>,
    /// SHA-256 of the bytes, hex, once uploaded.
    pub checksum: Option<String>,
    pub public: bool,
    /// The client marked the upload complete: the file can be downloaded.
    pub completed: bool,
    /// The object's key in the `BlobStorage`.
    pub storage_key: String,
    /// SHA-256 (hex) of the one-time upload token.
    pub upload_token_hash: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
    pub completed_at: Option<i64>,
}

/// A row to insert.
#[derive(Debug, Clone, PartialEq)]
pub struct NewBlob {
    pub app_id: i64,
    pub uid: String,
    pub owner_id: i64,
    pub name: String,
    pub content_type: String,
    pub public: bool,
    pub storage_key: String,
    pub upload_token_hash: String,
    pub now: i64,
}

/// What `POST /blobs` asks for.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct BlobRequest {
    pub name: Option<String>,
    pub content_type: Option<String>,
    pub public: bool,
}

/// A change of a blob's description; `None` leaves a field.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct BlobChange {
    pub name: Option<String>,
    pub public: Option<bool>,
}

/// A new blob with the token its upload needs (only known now).
#[derive(Debug, Clone)]
pub struct CreatedBlob {
    pub blob: Blob,
    pub upload_token: String,
    /// Unix milliseconds.
    pub upload_expires_at: i64,
}

/// How a path names a blob: an all-digit segment is an id, anything else a uid.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BlobRef<'a> {
    Id(i64),
    Uid(&'a str),
}

impl<'a> BlobRef<'a> {
    pub fn parse(segment: &'a str) -> BlobRef<'a> {
        match segment.parse::<i64>() {
            Ok(id) if segment.bytes().all(|b| b.is_ascii_digit()) => BlobRef::Id(id),
            _ => BlobRef::Uid(segment),
        }
    }
}

/// What can go wrong moving bytes, besides the domain's errors.
#[derive(Debug, thiserror::Error)]
pub enum BlobError {
    #[error(transparent)]
    Core(#[from] CoreError),
    #[error("The file is larger than {max} bytes")]
    TooLarge { max: u64 },
    /// The client's request body broke off or was malformed.
    #[error("The upload could not be read: {0}")]
    BadUpload(String),
    /// The storage failed.
    #[error("file storage failure: {0}")]
    Storage(io::Error),
}

impl From<crate::StoreError> for BlobError {
    fn from(error: crate::StoreError) -> BlobError {
        BlobError::Core(error.into())
    }
}

/// Longest name (docs/protocol.md#object-blob).
pub const MAX_NAME_CHARS: usize = 100;
/// `GET /blobs` page size: default and cap.
pub const DEFAULT_PER_PAGE: i64 = 10;
pub const MAX_PER_PAGE: i64 = 100;

pub struct BlobService {
    core: Core,
}

impl BlobService {
    pub(crate) fn new(core: Core) -> BlobService {
        BlobService { core }
    }

    pub fn config(&self) -> &BlobConfig {
        &self.core.blob_config
    }

    fn storage(&self) -> &dyn BlobStorage {
        self.core.blob_config.storage.as_ref()
    }

    /// `POST /blobs`: a row owned by the caller, and a token for its upload.
    pub async fn create(&self, caller: &Caller, request: BlobRequest) -> CoreResult<CreatedBlob> {
        let owner_id = caller.user_id()?;
        let name = match request.name.as_deref().map(str::trim) {
            None | Some("") => "file".to_owned(),
            Some(name) => valid_name(name)?,
        };
        let content_type = match request.content_type.as_deref().map(str::trim) {
            None | Some("") => "application/octet-stream".to_owned(),
            Some(value) if valid_content_type(value) => value.to_owned(),
            Some(_) => return Err(CoreError::invalid("content_type", "is invalid")),
        };
        let uid = new_uid();
        let upload_token = palaver_proto::random_hex_token(20);
        let now = self.core.clock.now_millis();
        let blob = self
            .core
            .store
            .create_blob(&NewBlob {
                app_id: caller.app_id,
                storage_key: format!("{}/{}", caller.app_id, uid),
                uid,
                owner_id,
                name,
                content_type,
                public: request.public,
                upload_token_hash: token_hash(&upload_token),
                now,
            })
            .await?;
        let upload_expires_at = blob.created_at + self.config().upload_ttl.as_millis() as i64;
        Ok(CreatedBlob {
            blob,
            upload_token,
            upload_expires_at,
        })
    }

    /// The upload: `token` must be the blob's upload token (and `uid`, if given, its uid); the blob must
    /// not be completed yet and its upload window still open. The bytes go to the storage through the size
    /// limit and a SHA-256; a better `content_type` than the generic one replaces the blob's.
    pub async fn upload(
        &self,
        blob_id: i64,
        uid: Option<&str>,
        token: &str,
        content_type: Option<&str>,
        data: &mut (dyn AsyncRead + Send + Unpin),
    ) -> Result<Blob, BlobError> {
        let blob = self.core.store.blob(blob_id).await?.ok_or(CoreError::NotFound)?;
        let token_ok = blob
            .upload_token_hash
            .as_ref()
            .map(|hash| bool::from(hash.as_bytes().ct_eq(token_hash(token).as_bytes())))
            .unwrap_or(false);
        if !token_ok || uid.is_some_and(|uid| uid != blob.uid) {
            return Err(CoreError::Forbidden("Invalid upload token".into()).into());
        }
        if blob.completed {
            return Err(CoreError::Forbidden("The file is already uploaded".into()).into());
        }
        let now = self.core.clock.now_millis();
        if now > blob.created_at + self.config().upload_ttl.as_millis() as i64 {
            return Err(CoreError::Forbidden("The upload URL has expired".into()).into());
        }
        let max = self.config().max_size;
        let mut metered = Metered::new(data, max);
        let stored = self.storage().put(&blob.storage_key, &mut metered).await;
        let size = match stored {
            Ok(size) if !metered.exceeded && metered.source_error.is_none() => size,
            outcome => {
                // A put that failed leaves nothing; one that succeeded despite our reader's error (an
                // implementation that swallowed it) must not stay either.
                if outcome.is_ok() {
                    let _ = self.storage().delete(&blob.storage_key).await;
                }
                return Err(if metered.exceeded {
                    BlobError::TooLarge { max }
                } else if let Some(error) = metered.source_error.take() {
                    BlobError::BadUpload(error)
                } else {
                    BlobError::Storage(outcome.err().unwrap_or_else(|| io::Error::other("put failed")))
                });
            }
        };
        let checksum = metered.checksum();
        let content_type = content_type
            .map(str::trim)
            .filter(|t| blob.content_type == "application/octet-stream" && valid_content_type(t))
            .filter(|t| !t.eq_ignore_ascii_case("application/octet-stream"));
        let now = self.core.clock.now_millis();
        match self
            .core
            .store
            .set_blob_content(blob.id, size as i64, &checksum, content_type, now)
            .await?
        {
            Some(blob) => Ok(blob),
            None => {
                // Deleted or completed while the bytes were coming in.
                let _ = self.storage().delete(&blob.storage_key).await;
                Err(CoreError::NotFound.into())
            }
        }
    }

    /// `PUT /blobs/{id}/complete`: the owner declares the upload done. `size` is what the client claims;
    /// the size that counts is the one received. Completing twice is fine.
    pub async fn complete(&self, caller: &Caller, id: i64, size: Option<i64>) -> CoreResult<Blob> {
        let blob = self.owned(caller, id).await?;
        if blob.completed {
            return Ok(blob);
        }
        let Some(received) = blob.size else {
            return Err(CoreError::Rejected("The file has not been uploaded yet".into()));
        };
        if let Some(claimed) = size.filter(|claimed| *claimed != received) {
            tracing::debug!(
                blob = id,
                claimed,
                received,
                "completed with another size than received"
            );
        }
        let now = self.core.clock.now_millis();
        self.core
            .store
            .complete_blob(id, now)
            .await?
            .ok_or(CoreError::NotFound)
    }

    /// `GET /blobs/{id|uid}.json`: a blob of the caller's app he may read. Only the owner sees a blob before
    /// it is completed.
    pub async fn info(&self, caller: &Caller, blob: BlobRef<'_>) -> CoreResult<Blob> {
        let blob = self
            .find(blob)
            .await?
            .filter(|b| b.app_id == caller.app_id)
            .ok_or(CoreError::NotFound)?;
        if !blob.completed && caller.user_id != Some(blob.owner_id) {
            return Err(CoreError::NotFound);
        }
        self.check_read(&blob, Some(caller)).await?;
        Ok(blob)
    }

    /// A completed blob the viewer (anyone, for public blobs) may download.
    pub async fn readable(&self, blob: BlobRef<'_>, viewer: Option<&Caller>) -> CoreResult<Blob> {
        let blob = self
            .find(blob)
            .await?
            .filter(|b| b.completed)
            .ok_or(CoreError::NotFound)?;
        self.check_read(&blob, viewer).await?;
        Ok(blob)
    }

    /// The bytes of a blob `readable` returned, or the bytes `range` of them.
    pub async fn open(&self, blob: &Blob, range: Option<Range<u64>>) -> Result<BlobReader, BlobError> {
        self.storage()
            .get(&blob.storage_key, range)
            .await
            .map_err(|error| {
                if error.kind() == io::ErrorKind::NotFound {
                    tracing::warn!(blob = blob.id, key = %blob.storage_key, "the file of a completed blob is missing");
                    BlobError::Core(CoreError::NotFound)
                } else {
                    BlobError::Storage(error)
                }
            })
    }

    /// `PUT /blobs/{id}` (and the SDKs' `GET` with `blob[name]`): the owner renames it or makes it public
    /// or private.
    pub async fn update(&self, caller: &Caller, id: i64, change: BlobChange) -> CoreResult<Blob> {
        let blob = self.owned(caller, id).await?;
        let name = change.name.as_deref().map(|n| valid_name(n.trim())).transpose()?;
        if name.is_none() && change.public.is_none() {
            return Ok(blob);
        }
        let now = self.core.clock.now_millis();
        self.core
            .store
            .update_blob(id, name.as_deref(), change.public, now)
            .await?
            .ok_or(CoreError::NotFound)
    }

    /// `DELETE /blobs/{id}`: the owner deletes the row, then the bytes.
    pub async fn delete(&self, caller: &Caller, id: i64) -> CoreResult<()> {
        let blob = self.owned(caller, id).await?;
        if !self.core.store.delete_blob(id).await? {
            return Err(CoreError::NotFound);
        }
        if let Err(error) = self.storage().delete(&blob.storage_key).await {
            tracing::warn!(blob = id, key = %blob.storage_key, %error, "could not delete the file of a deleted blob");
        }
        Ok(())
    }

    /// `GET /blobs`: the caller's completed blobs, oldest first, one page (from 1), and how many in all.
    pub async fn list(&self, caller: &Caller, page: i64, per_page: i64) -> CoreResult<(Vec<Blob>, i64)> {
        let owner_id = caller.user_id()?;
        let per_page = per_page.clamp(1, MAX_PER_PAGE);
        let skip = (page.max(1) - 1).saturating_mul(per_page);
        Ok(self
            .core
            .store
            .list_blobs(caller.app_id, owner_id, per_page, skip)
            .await?)
    }

    /// Deletes blobs whose upload window closed without completion, with their bytes. Run periodically.
    pub async fn purge_orphans(&self) -> CoreResult<u64> {
        const BATCH: i64 = 100;
        let before = self.core.clock.now_millis() - self.config().upload_ttl.as_millis() as i64;
        let mut purged = 0;
        loop {
            let stale = self.core.store.stale_blobs(before, BATCH).await?;
            for blob in &stale {
                if let Err(error) = self.storage().delete(&blob.storage_key).await {
                    tracing::warn!(blob = blob.id, %error, "could not delete the file of an abandoned upload");
                    continue;
                }
                if self.core.store.delete_blob(blob.id).await? {
                    purged += 1;
                }
            }
            if (stale.len() as i64) < BATCH {
                break;
            }
        }
        if purged > 0 {
            tracing::debug!(purged, "deleted abandoned uploads");
        }
        Ok(purged)
    }

    async fn find(&self, blob: BlobRef<'_>) -> CoreResult<Option<Blob>> {
        Ok(match blob {
            BlobRef::Id(id) => self.core.store.blob(id).await?,
            BlobRef::Uid(uid) => self.core.store.blob_by_uid(uid).await?,
        })
    }

    /// A blob of the caller's app that the caller owns.
    async fn owned(&self, caller: &Caller, id: i64) -> CoreResult<Blob> {
        let user_id = caller.user_id()?;
        let blob = self
            .core
            .store
            .blob(id)
            .await?
            .filter(|b| b.app_id == caller.app_id)
            .ok_or(CoreError::NotFound)?;
        if blob.owner_id != user_id {
            return Err(CoreError::Forbidden("Only the owner can change this file".into()));
        }
        Ok(blob)
    }

    /// Public: anyone. Private: the owner, or a user of the app the uid was shared with in a dialog.
    async fn check_read(&self, blob: &Blob, viewer: Option<&Caller>) -> CoreResult<()> {
        if blob.public {
            return Ok(());
        }
        let viewer = viewer.ok_or(CoreError::SessionRequired)?;
        if viewer.app_id != blob.app_id {
            return Err(CoreError::NotFound);
        }
        let user_id = viewer.user_id()?;
        if user_id == blob.owner_id
            || self
                .core
                .store
                .blob_shared_with(blob.app_id, &blob.uid, user_id)
                .await?
        {
            return Ok(());
        }
        Err(CoreError::Forbidden("You don't have access to this file".into()))
    }
}

fn valid_name(name: &str) -> CoreResult<String> {
    if name.is_empty() {
        return Err(CoreError::invalid("name", "can't be blank"));
    }
    if name.chars().count() > MAX_NAME_CHARS {
        return Err(CoreError::invalid(
            "name",
            "is too long (maximum is 100 characters)",
        ));
    }
    Ok(name.to_owned())
}

/// `type/subtype[; params]` in printable ASCII: it goes out as a `Content-Type` header.
pub fn valid_content_type(value: &str) -> bool {
    value.len() <= 255 && value.contains('/') && value.bytes().all(|b| (0x20..0x7f).contains(&b))
}

/// 32 hex digits with at least one letter.
fn new_uid() -> String {
    let mut uid = palaver_proto::random_hex_token(16);
    if uid.bytes().all(|b| b.is_ascii_digit()) {
        uid.replace_range(..1, "a");
    }
    uid
}

/// Reads through to the inner reader, counting and hashing; fails once more than `max` bytes came.
struct Metered<'a> {
    inner: &'a mut (dyn AsyncRead + Send + Unpin),
    max: u64,
    count: u64,
    hasher: Sha256,
    exceeded: bool,
    source_error: Option<String>,
}

impl<'a> Metered<'a> {
    fn new(inner: &'a mut (dyn AsyncRead + Send + Unpin), max: u64) -> Metered<'a> {
        Metered {
            inner,
            max,
            count: 0,
            hasher: Sha256::new(),
            exceeded: false,
            source_error: None,
        }
    }

    fn checksum(&self) -> String {
        hex::encode(self.hasher.clone().finalize())
    }
}

impl AsyncRead for Metered<'_> {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.exceeded {
            return Poll::Ready(Err(io::Error::new(io::ErrorKind::InvalidData, "file too large")));
        }
        let before = buf.filled().len();
        match Pin::new(&mut *this.inner).poll_read(cx, buf) {
            Poll::Ready(Ok(())) => {
                let fresh = &buf.filled()[before..];
                this.count += fresh.len() as u64;
                if this.count > this.max {
                    // An error must come with nothing read.
                    buf.set_filled(before);
                    this.exceeded = true;
                    return Poll::Ready(Err(io::Error::new(io::ErrorKind::InvalidData, "file too large")));
                }
                this.hasher.update(fresh);
                Poll::Ready(Ok(()))
            }
            Poll::Ready(Err(error)) => {
                this.source_error = Some(error.to_string());
                Poll::Ready(Err(error))
            }
            Poll::Pending => Poll::Pending,
        }
    }
}

/// SHA-256 of bytes, hex: what `Blob::checksum` holds.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// Where blob rows (what describes a file; its bytes are in a `BlobStorage`) are kept.
#[async_trait]
pub trait BlobStore: Send + Sync {
    async fn create_blob(&self, blob: &NewBlob) -> StoreResult<Blob>;
    /// Ids and uids are unique across applications; callers check the app.
    async fn blob(&self, id: i64) -> StoreResult<Option<Blob>>;
    async fn blob_by_uid(&self, uid: &str) -> StoreResult<Option<Blob>>;
    /// Records the uploaded bytes' size and checksum (and a content type, if given) of a blob not yet
    /// completed; `None` when there is no such blob or it is completed.
    async fn set_blob_content(
        &self,
        id: i64,
        size: i64,
        checksum: &str,
        content_type: Option<&str>,
        now: i64,
    ) -> StoreResult<Option<Blob>>;
    async fn complete_blob(&self, id: i64, now: i64) -> StoreResult<Option<Blob>>;
    async fn update_blob(
        &self,
        id: i64,
        name: Option<&str>,
        public: Option<bool>,
        now: i64,
    ) -> StoreResult<Option<Blob>>;
    async fn delete_blob(&self, id: i64) -> StoreResult<bool>;
    /// One page of a user's completed blobs, oldest first, and how many there are.
    async fn list_blobs(
        &self,
        app_id: i64,
        owner_id: i64,
        limit: i64,
        skip: i64,
    ) -> StoreResult<(Vec<Blob>, i64)>;
    /// Blobs never completed that were created before `created_before`, oldest first.
    async fn stale_blobs(&self, created_before: i64, limit: i64) -> StoreResult<Vec<Blob>>;
    /// Whether the uid is in an attachment of a message of a dialog the user is a member of, or of a
    /// broadcast dialog of the app.
    async fn blob_shared_with(&self, app_id: i64, uid: &str, user_id: i64) -> StoreResult<bool>;
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncReadExt;

    #[test]
    fn path_segments_name_ids_or_uids() {
        assert_eq!(BlobRef::parse("42"), BlobRef::Id(42));
        assert_eq!(BlobRef::parse("4a2"), BlobRef::Uid("4a2"));
        assert_eq!(BlobRef::parse("+42"), BlobRef::Uid("+42"));
        assert_eq!(
            BlobRef::parse("99999999999999999999"),
            BlobRef::Uid("99999999999999999999")
        );
    }

    #[test]
    fn uids_are_hex_with_a_letter() {
        for _ in 0..100 {
            let uid = new_uid();
            assert_eq!(uid.len(), 32);
            assert!(uid.bytes().all(|b| b.is_ascii_hexdigit()));
            assert!(uid.bytes().any(|b| b.is_ascii_alphabetic()));
        }
    }

    #[test]
    fn content_types_must_be_header_safe() {
        assert!(valid_content_type("image/png"));
        assert!(valid_content_type("text/plain; charset=utf-8"));
        assert!(!valid_content_type("png"));
        assert!(!valid_content_type("text/html\r\nX-Evil: 1"));
    }

    #[tokio::test]
    async fn metered_reader_hashes_and_stops_at_the_limit() {
        let data = vec![7u8; 1000];
        let mut source: &[u8] = &data;
        let mut metered = Metered::new(&mut source, 1000);
        let mut out = Vec::new();
        metered.read_to_end(&mut out).await.unwrap();
        assert_eq!(out, data);
        assert_eq!(metered.checksum(), sha256_hex(&data));

        let mut source: &[u8] = &data;
        let mut metered = Metered::new(&mut source, 999);
        let mut out = Vec::new();
        assert!(metered.read_to_end(&mut out).await.is_err());
        assert!(metered.exceeded);
        assert!(metered.source_error.is_none());
    }
}
