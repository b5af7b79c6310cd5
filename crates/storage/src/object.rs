//! Files in an `object_store` store: S3 and compatible services, or the in-memory store.

use crate::check_key;
use async_trait::async_trait;
use futures_util::TryStreamExt;
use object_store::path::Path;
use object_store::{GetOptions, GetRange, ObjectStore, PutPayload, WriteMultipart};
use palaver_core::blobs::{BlobReader, BlobStorage};
use std::io;
use std::ops::Range;
use std::sync::Arc;
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio_util::io::StreamReader;

/// Read size from the uploader.
const READ_CHUNK: usize = 64 * 1024;

pub struct ObjectStorage {
    store: Arc<dyn ObjectStore>,
    /// Prepended to every key (`""` or ending in `/`).
    prefix: String,
    /// Files up to this size go up in one request; larger ones as multipart uploads of parts this size.
    part_size: usize,
    label: String,
}

impl ObjectStorage {
    /// S3 wants parts of at least 5 MiB (the last excepted).
    pub const DEFAULT_PART_SIZE: usize = 8 * 1024 * 1024;

    /// Objects of `store` under `prefix` (`uploads` or `uploads/`; empty for the bucket's root).
    pub fn new(store: Arc<dyn ObjectStore>, prefix: &str, label: impl Into<String>) -> ObjectStorage {
        let prefix = prefix.trim_matches('/');
        ObjectStorage {
            store,
            prefix: if prefix.is_empty() {
                String::new()
            } else {
                format!("{prefix}/")
            },
            part_size: ObjectStorage::DEFAULT_PART_SIZE,
            label: label.into(),
        }
    }

    pub fn with_part_size(mut self, part_size: usize) -> ObjectStorage {
        self.part_size = part_size.max(1);
        self
    }

    fn path(&self, key: &str) -> io::Result<Path> {
        check_key(key)?;
        Path::parse(format!("{}{key}", self.prefix))
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))
    }
}

fn to_io(error: object_store::Error) -> io::Error {
    match error {
        object_store::Error::NotFound { .. } => io::Error::new(io::ErrorKind::NotFound, error),
        other => io::Error::other(other),
    }
}

#[async_trait]
impl BlobStorage for ObjectStorage {
    async fn put(&self, key: &str, data: &mut (dyn AsyncRead + Send + Unpin)) -> io::Result<u64> {
        let path = self.path(key)?;
        let mut buf = vec![0u8; READ_CHUNK];
        // The first part decides: a file that fits goes up in one request.
        let mut first = Vec::new();
        let mut ended = false;
        while first.len() < self.part_size {
            let want = READ_CHUNK.min(self.part_size - first.len());
            let n = data.read(&mut buf[..want]).await?;
            if n == 0 {
                ended = true;
                break;
            }
            first.extend_from_slice(&buf[..n]);
        }
        let mut total = first.len() as u64;
        if ended {
            self.store
                .put(&path, PutPayload::from(first))
                .await
                .map_err(to_io)?;
            return Ok(total);
        }
        let upload = self.store.put_multipart(&path).await.map_err(to_io)?;
        let mut writer = WriteMultipart::new_with_chunk_size(upload, self.part_size);
        writer.write(&first);
        drop(first);
        loop {
            let n = match data.read(&mut buf).await {
                Ok(n) => n,
                Err(error) => {
                    let _ = writer.abort().await;
                    return Err(error);
                }
            };
            if n == 0 {
                break;
            }
            // At most two parts in flight (and one filling): memory stays bounded.
            if let Err(error) = writer.wait_for_capacity(2).await {
                let _ = writer.abort().await;
                return Err(to_io(error));
            }
            writer.write(&buf[..n]);
            total += n as u64;
        }
        writer.finish().await.map_err(to_io)?;
        Ok(total)
    }

    async fn get(&self, key: &str, range: Option<Range<u64>>) -> io::Result<BlobReader> {
        let path = self.path(key)?;
        if range.as_ref().is_some_and(|r| r.is_empty()) {
            // object_store refuses empty ranges.
            self.store.head(&path).await.map_err(to_io)?;
            return Ok(Box::pin(tokio::io::empty()));
        }
        let options = GetOptions {
            range: range.map(GetRange::Bounded),
            ..GetOptions::default()
        };
        let result = self.store.get_opts(&path, options).await.map_err(to_io)?;
        Ok(Box::pin(StreamReader::new(result.into_stream().map_err(to_io))))
    }

    async fn delete(&self, key: &str) -> io::Result<()> {
        match self.store.delete(&self.path(key)?).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(error) => Err(to_io(error)),
        }
    }

    async fn size(&self, key: &str) -> io::Result<Option<u64>> {
        match self.store.head(&self.path(key)?).await {
            Ok(meta) => Ok(Some(meta.size)),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(error) => Err(to_io(error)),
        }
    }

    fn describe(&self) -> String {
        self.label.clone()
    }
}

/// Where an S3-compatible bucket is and how to sign in to it. Unset fields come from the usual `AWS_*`
/// environment variables.
#[cfg(feature = "s3")]
#[derive(Debug, Clone, Default)]
pub struct S3Settings {
    pub bucket: String,
    pub region: Option<String>,
    /// For services other than AWS (`http://127.0.0.1:9000` for MinIO, …); path-style requests.
    pub endpoint: Option<String>,
    pub access_key_id: Option<String>,
    pub secret_access_key: Option<String>,
    /// Key prefix inside the bucket.
    pub prefix: String,
    /// Allow a plain-HTTP endpoint.
    pub allow_http: bool,
}

#[cfg(feature = "s3")]
impl ObjectStorage {
    /// Builds the S3 client; nothing is sent until the first file.
    pub fn s3(settings: &S3Settings) -> Result<ObjectStorage, object_store::Error> {
        use object_store::aws::AmazonS3Builder;
        if settings.bucket.trim().is_empty() {
            return Err(object_store::Error::Generic {
                store: "S3",
                source: "no bucket given".into(),
            });
        }
        let mut builder = AmazonS3Builder::from_env()
            .with_bucket_name(&settings.bucket)
            .with_allow_http(settings.allow_http);
        if let Some(region) = settings.region.as_deref().filter(|r| !r.is_empty()) {
            builder = builder.with_region(region);
        }
        if let Some(endpoint) = settings.endpoint.as_deref().filter(|e| !e.is_empty()) {
            builder = builder.with_endpoint(endpoint);
        }
        if let Some(key) = settings.access_key_id.as_deref().filter(|k| !k.is_empty()) {
            builder = builder.with_access_key_id(key);
        }
        if let Some(secret) = settings.secret_access_key.as_deref().filter(|s| !s.is_empty()) {
            builder = builder.with_secret_access_key(secret);
        }
        let store = builder.build()?;
        let label = match settings.endpoint.as_deref().filter(|e| !e.is_empty()) {
            Some(endpoint) => format!("s3:{endpoint}/{}/{}", settings.bucket, settings.prefix),
            None => format!("s3://{}/{}", settings.bucket, settings.prefix),
        };
        Ok(ObjectStorage::new(Arc::new(store), &settings.prefix, label))
    }
}
