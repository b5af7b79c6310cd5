//! Files on the local disk, one per key, under a root directory.

use crate::check_key;
use async_trait::async_trait;
use palaver_core::blobs::{BlobReader, BlobStorage};
use std::io::{self, SeekFrom};
use std::ops::Range;
use std::path::{Path, PathBuf};
use tokio::fs;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncSeekExt, AsyncWriteExt, BufWriter};

/// Bytes written to disk per write call (the only buffer a put holds).
const WRITE_BUFFER: usize = 1024 * 1024;
/// Where puts write before their file is complete; renamed into place from there.
const PARTIAL_DIR: &str = ".partial";

pub struct LocalStorage {
    root: PathBuf,
}

impl LocalStorage {
    /// Uses (and creates) the directory `root`. Leftovers of puts interrupted by a crash are removed.
    pub fn new(root: impl Into<PathBuf>) -> io::Result<LocalStorage> {
        let root = root.into();
        let partial = root.join(PARTIAL_DIR);
        if partial.exists() {
            std::fs::remove_dir_all(&partial)?;
        }
        std::fs::create_dir_all(&partial)?;
        Ok(LocalStorage { root })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    fn path(&self, key: &str) -> io::Result<PathBuf> {
        check_key(key)?;
        Ok(self.root.join(key))
    }

    async fn write_new(
        &self,
        partial: &Path,
        target: &Path,
        data: &mut (dyn AsyncRead + Send + Unpin),
    ) -> io::Result<u64> {
        let file = fs::File::create(partial).await?;
        let mut writer = BufWriter::with_capacity(WRITE_BUFFER, file);
        let size = tokio::io::copy(data, &mut writer).await?;
        writer.flush().await?;
        writer.into_inner().sync_all().await?;
        if let Some(parent) = target.parent() {
            fs::create_dir_all(parent).await?;
        }
        fs::rename(partial, target).await?;
        Ok(size)
    }
}

#[async_trait]
impl BlobStorage for LocalStorage {
    async fn put(&self, key: &str, data: &mut (dyn AsyncRead + Send + Unpin)) -> io::Result<u64> {
        let target = self.path(key)?;
        let partial = self.root.join(PARTIAL_DIR).join(partial_name());
        let written = self.write_new(&partial, &target, data).await;
        if written.is_err() {
            let _ = fs::remove_file(&partial).await;
        }
        written
    }

    async fn get(&self, key: &str, range: Option<Range<u64>>) -> io::Result<BlobReader> {
        let mut file = fs::File::open(self.path(key)?).await?;
        match range {
            None => Ok(Box::pin(file)),
            Some(range) => {
                file.seek(SeekFrom::Start(range.start)).await?;
                Ok(Box::pin(file.take(range.end.saturating_sub(range.start))))
            }
        }
    }

    async fn delete(&self, key: &str) -> io::Result<()> {
        match fs::remove_file(self.path(key)?).await {
            Err(error) if error.kind() != io::ErrorKind::NotFound => Err(error),
            _ => Ok(()),
        }
    }

    async fn size(&self, key: &str) -> io::Result<Option<u64>> {
        match fs::metadata(self.path(key)?).await {
            Ok(meta) => Ok(Some(meta.len())),
            Err(error) if error.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(error) => Err(error),
        }
    }

    fn describe(&self) -> String {
        format!("local:{}", self.root.display())
    }
}

/// A random file name for a partial write.
fn partial_name() -> String {
    use rand::RngCore;
    let mut bytes = [0u8; 12];
    rand::thread_rng().fill_bytes(&mut bytes);
    hex::encode(bytes)
}
