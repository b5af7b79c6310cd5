//! Where files' bytes live: implementations of `palaver_core::blobs::BlobStorage`.
//!
//! * `LocalStorage` — a directory (by default `$PALAVER_DATA_DIR/blobs`); writes go to a temporary file
//!   that is renamed into place once complete.
//! * `ObjectStorage` — any `object_store` store: Amazon S3 and compatible services (feature `s3`), or the
//!   in-memory store in tests. Large files go up as multipart uploads.
//!
//! Both stream: memory use is bounded by a buffer (or an upload part), whatever the file's size.

mod local;
mod object;

pub use local::LocalStorage;
pub use object::ObjectStorage;
#[cfg(feature = "s3")]
pub use object::S3Settings;

use std::io;

/// Keys are `/`-separated segments of `[A-Za-z0-9_.-]`, none of them empty, `.` or `..`.
pub(crate) fn check_key(key: &str) -> io::Result<()> {
    let valid = !key.is_empty()
        && key.split('/').all(|segment| {
            !segment.is_empty()
                && segment != "."
                && segment != ".."
                && segment
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-' || b == b'.')
        });
    if valid {
        Ok(())
    } else {
        Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("invalid storage key {key:?}"),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::check_key;

    #[test]
    fn keys_stay_inside_the_store() {
        assert!(check_key("1/abc123").is_ok());
        assert!(check_key("a.b/c-d_e").is_ok());
        for bad in ["", "/a", "a/", "a//b", "../a", "a/../b", "a/./b", "a b", "a\\b"] {
            assert!(check_key(bad).is_err(), "{bad:?} must be refused");
        }
    }
}
