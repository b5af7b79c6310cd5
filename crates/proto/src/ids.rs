//! ObjectId-style ids (dialogs, server-made messages) and opaque random tokens.

use rand::{Rng, RngCore};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// A 24-hex-character id in the BSON ObjectId layout: 4 bytes of Unix seconds, 5 random bytes fixed per
/// process, and a 3-byte counter.
///
/// The SDKs treat an all-digit target as a user id, so a generated id always holds at least one a–f letter.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ObjectId(String);

impl ObjectId {
    /// Accepts any 24-character lowercase hex string that is not made only of digits.
    pub fn parse(text: &str) -> Option<ObjectId> {
        let valid = text.len() == 24
            && text
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
            && text.bytes().any(|b| b.is_ascii_alphabetic());
        valid.then(|| ObjectId(text.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_string(self) -> String {
        self.0
    }
}

impl std::fmt::Display for ObjectId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

fn process_unique() -> &'static [u8; 5] {
    static UNIQUE: std::sync::OnceLock<[u8; 5]> = std::sync::OnceLock::new();
    UNIQUE.get_or_init(|| rand::thread_rng().gen())
}

static COUNTER: std::sync::OnceLock<AtomicU32> = std::sync::OnceLock::new();

/// A fresh ObjectId for the current second.
pub fn new_object_id() -> ObjectId {
    let seconds = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as u32)
        .unwrap_or(0);
    object_id_at(seconds)
}

fn object_id_at(seconds: u32) -> ObjectId {
    let counter = COUNTER.get_or_init(|| AtomicU32::new(rand::thread_rng().gen_range(0..0x00ff_ffff)));
    loop {
        let count = counter.fetch_add(1, Ordering::Relaxed) & 0x00ff_ffff;
        let mut bytes = [0u8; 12];
        bytes[..4].copy_from_slice(&seconds.to_be_bytes());
        bytes[4..9].copy_from_slice(process_unique());
        bytes[9..].copy_from_slice(&count.to_be_bytes()[1..]);
        if let Some(id) = ObjectId::parse(&hex::encode(bytes)) {
            return id;
        }
        // All 24 characters came out as digits (rare): take the next counter value.
    }
}

/// The id of the private dialog of two users of an app: the same for the pair whichever of them asks,
/// on every node and in every run, so a pair's first message can name its dialog before the dialog's
/// row is written (and two nodes that meet a new pair at once agree on it). Derived with SHA-256, so ids
/// of different pairs do not collide in practice; like every generated id it holds a letter.
pub fn private_dialog_id(app_id: i64, a: i64, b: i64) -> ObjectId {
    use sha2::{Digest, Sha256};
    let (low, high) = (a.min(b), a.max(b));
    // The digest of "palaver private dialog {app_id}:{low}:{high}", its numbers written with itoa
    // rather than through `format!`, and the hex digits into an array (a new pair's first message
    // derives this: under callgrind the formatting and the digits collected one char at a time into
    // a String were 1,900 instructions a call beside the hash's 3,400 in software, and a CPU with SHA
    // instructions does the hash in a fraction of that).
    let mut numbers = [itoa::Buffer::new(), itoa::Buffer::new(), itoa::Buffer::new()];
    let [app_text, low_text, high_text] = &mut numbers;
    let digest = Sha256::new()
        .chain_update(b"palaver private dialog ")
        .chain_update(app_text.format(app_id))
        .chain_update(b":")
        .chain_update(low_text.format(low))
        .chain_update(b":")
        .chain_update(high_text.format(high))
        .finalize();
    let mut text = [0u8; 24];
    hex::encode_to_slice(&digest[..12], &mut text).expect("12 bytes are 24 hex digits");
    if !text.iter().any(u8::is_ascii_alphabetic) {
        // All 24 characters are digits (about once in 80,000 pairs): the last one becomes a letter.
        text[23] = b'a';
    }
    ObjectId(String::from_utf8(text.to_vec()).expect("hex digits are ASCII"))
}

/// `bytes` random bytes as lowercase hex, from the operating system's CSPRNG.
pub fn random_hex_token(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    rand::rngs::OsRng.fill_bytes(&mut buf);
    hex::encode(buf)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_ids_are_24_hex_with_a_letter_and_unique() {
        let a = new_object_id();
        let b = new_object_id();
        assert_eq!(a.as_str().len(), 24);
        assert!(a.as_str().bytes().any(|c| c.is_ascii_alphabetic()));
        assert_ne!(a, b);
        assert_eq!(ObjectId::parse(a.as_str()), Some(a));
    }

    #[test]
    fn timestamp_leads_the_id() {
        let id = object_id_at(0x5c09_4c0c);
        assert!(id.as_str().starts_with("5c094c0c"), "{id}");
    }

    #[test]
    fn parse_rejects_digit_only_and_malformed_ids() {
        assert!(ObjectId::parse("123456789012345678901234").is_none());
        assert!(ObjectId::parse("5c094c0ce588ce6856f8742").is_none());
        assert!(ObjectId::parse("5C094C0CE588CE6856F87422").is_none());
        assert!(ObjectId::parse("5c094c0ce588ce6856f87422").is_some());
    }

    #[test]
    fn a_pair_has_one_private_dialog_id_whoever_asks() {
        let id = private_dialog_id(7, 12, 40);
        assert_eq!(id, private_dialog_id(7, 40, 12));
        assert_eq!(ObjectId::parse(id.as_str()), Some(id.clone()));
        // Stable across releases: dialogs already written keep being found.
        assert_eq!(id.as_str(), "0c95c9de702d3512288e569a");
        assert_ne!(id, private_dialog_id(7, 12, 41));
        assert_ne!(id, private_dialog_id(8, 12, 40));
        let ids: std::collections::HashSet<ObjectId> =
            (0..2_000).map(|n| private_dialog_id(1, n, n + 1)).collect();
        assert_eq!(ids.len(), 2_000);
        assert!(ids
            .iter()
            .all(|id| id.as_str().bytes().any(|c| c.is_ascii_alphabetic())));
    }

    #[test]
    fn private_dialog_ids_are_the_digest_of_the_pair_as_text() {
        use sha2::{Digest, Sha256};
        let defined = |app: i64, low: i64, high: i64| {
            let digest = Sha256::digest(format!("palaver private dialog {app}:{low}:{high}"));
            let mut text = hex::encode(&digest[..12]);
            if !text.bytes().any(|c| c.is_ascii_alphabetic()) {
                text.replace_range(23.., "a");
            }
            text
        };
        let values = [0, 1, 9, 10, 12, 40, 99_999, -1, -40, i64::MAX, i64::MIN, 1 << 40];
        for app in [1, 7, i64::MAX] {
            for a in values {
                for b in values {
                    let id = private_dialog_id(app, a, b);
                    assert_eq!(id.as_str(), defined(app, a.min(b), a.max(b)), "{app} {a} {b}");
                }
            }
        }
        // A pair whose digest's first 12 bytes are all digits in hex: its id ends in the letter.
        assert_eq!(defined(1, 55_812, 55_813), "76644074620588987818031a");
        assert_eq!(
            private_dialog_id(1, 55_813, 55_812).as_str(),
            "76644074620588987818031a"
        );
    }

    #[test]
    fn random_tokens_have_the_requested_length() {
        let token = random_hex_token(20);
        assert_eq!(token.len(), 40);
        assert_ne!(token, random_hex_token(20));
    }
}
