//! Session tokens kept sealed, so that a token's SCRAM keys are derived when a chat login first needs them
//! rather than at every REST login.
//!
//! A chat client may log in with its REST session token as the password, over PLAIN or SCRAM. PLAIN needs
//! only the token's hash. SCRAM needs the token's keys under the user's salt, two PBKDF2 derivations that
//! used to run for every `POST /session.json` with a password, beside the password check itself: three
//! derivations per REST login, most of them never used. With a token key, the session row keeps the token
//! sealed (AES-256-GCM, bound to the token's hash) instead; the first SCRAM login that does not match the
//! password's keys opens it, derives its keys once through the password gate and stores them in place of
//! the sealed token (`chat_auth`).
//!
//! The key is the server's own: `token_key` in the configuration, or a file made in the data directory on
//! first start. It never enters the database, so a copy of the database alone opens no token. Nodes of a
//! cluster must share it; without one, tokens' keys are derived up front as before.

use ring::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM, NONCE_LEN};
use ring::rand::{SecureRandom, SystemRandom};

/// Length of a token key in bytes.
pub const TOKEN_KEY_LEN: usize = 32;

/// Seals and opens session tokens under one key.
pub struct TokenSealer {
    key: LessSafeKey,
    random: SystemRandom,
}

impl std::fmt::Debug for TokenSealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TokenSealer")
    }
}

impl TokenSealer {
    pub fn new(key: &[u8; TOKEN_KEY_LEN]) -> TokenSealer {
        let key = UnboundKey::new(&AES_256_GCM, key).expect("an AES-256 key is 32 bytes");
        TokenSealer {
            key: LessSafeKey::new(key),
            random: SystemRandom::new(),
        }
    }

    /// A new random key.
    pub fn generate_key() -> [u8; TOKEN_KEY_LEN] {
        let mut key = [0u8; TOKEN_KEY_LEN];
        SystemRandom::new()
            .fill(&mut key)
            .expect("the system's random source works");
        key
    }

    /// `token` sealed and bound to `binding` (the token's hash): a random nonce, then the ciphertext and tag.
    pub fn seal(&self, token: &str, binding: &str) -> Vec<u8> {
        let mut nonce = [0u8; NONCE_LEN];
        self.random
            .fill(&mut nonce)
            .expect("the system's random source works");
        let mut sealed = token.as_bytes().to_vec();
        self.key
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(binding.as_bytes()),
                &mut sealed,
            )
            .expect("a session token is far below AES-GCM's message limit");
        let mut out = Vec::with_capacity(NONCE_LEN + sealed.len());
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&sealed);
        out
    }

    /// The token, if `sealed` was made by this key for `binding`; None for anything else (another key,
    /// another session's row, damaged bytes).
    pub fn open(&self, sealed: &[u8], binding: &str) -> Option<String> {
        if sealed.len() < NONCE_LEN {
            return None;
        }
        let (nonce, ciphertext) = sealed.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).ok()?;
        let mut buffer = ciphertext.to_vec();
        let plain = self
            .key
            .open_in_place(nonce, Aad::from(binding.as_bytes()), &mut buffer)
            .ok()?;
        String::from_utf8(plain.to_vec()).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sealed_token_opens_only_with_its_key_and_binding() {
        let sealer = TokenSealer::new(&TokenSealer::generate_key());
        let sealed = sealer.seal("0123456789abcdef0123456789abcdef01234567", "hash-a");
        assert!(
            !sealed.windows(8).any(|w| w == b"01234567"),
            "the token is not readable in the row"
        );
        assert_eq!(
            sealer.open(&sealed, "hash-a").as_deref(),
            Some("0123456789abcdef0123456789abcdef01234567")
        );
        assert_eq!(
            sealer.open(&sealed, "hash-b"),
            None,
            "bound to its session's token hash"
        );
        let other = TokenSealer::new(&TokenSealer::generate_key());
        assert_eq!(
            other.open(&sealed, "hash-a"),
            None,
            "another server's key opens nothing"
        );
        let mut damaged = sealed.clone();
        *damaged.last_mut().unwrap() ^= 1;
        assert_eq!(sealer.open(&damaged, "hash-a"), None);
        assert_eq!(sealer.open(&sealed[..5], "hash-a"), None);
    }

    #[test]
    fn the_same_token_seals_differently_each_time() {
        let sealer = TokenSealer::new(&TokenSealer::generate_key());
        assert_ne!(sealer.seal("token", "h"), sealer.seal("token", "h"));
    }
}
