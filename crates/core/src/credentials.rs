//! Turning secrets into what the store keeps: argon2id hashes, and SCRAM keys (RFC 5802 / RFC 7677).

use crate::model::{Credentials, ScramKeys};
use crate::salted_password;
use argon2::password_hash::{PasswordHash, PasswordVerifier};
use argon2::Argon2;
use hmac::{Hmac, KeyInit, Mac};
use rand::RngCore;
use sha1::Sha1;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// What `Credentials::password_hash` holds for a password that is checked against its SCRAM-SHA-256 keys.
/// Anyone holding the database can already attack those keys, so a second, slower hash beside them adds
/// cost to every login, not protection; the PBKDF2 iteration count (`scram_iterations`, 4096 or more)
/// is what an attacker pays per guess.
pub const SCRAM_SHA256_VERIFIER: &str = "scram-sha-256";

/// Derives a new password's SCRAM keys with a fresh salt. CPU-heavy (two PBKDF2 derivations): call off
/// the async threads.
pub fn derive_credentials(password: &str, scram_iterations: u32) -> Credentials {
    let mut scram_salt = vec![0u8; 16];
    rand::rngs::OsRng.fill_bytes(&mut scram_salt);
    Credentials {
        password_hash: SCRAM_SHA256_VERIFIER.to_owned(),
        scram: scram_keys(password, &scram_salt, scram_iterations),
    }
}

/// The outcome of checking a password.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PasswordCheck {
    Valid,
    /// Valid against an argon2id hash from an earlier version: store the SCRAM verifier instead.
    ValidLegacy,
    Invalid,
}

impl PasswordCheck {
    pub fn is_valid(self) -> bool {
        self != PasswordCheck::Invalid
    }
}

/// Checks a password against stored credentials: one PBKDF2-SHA-256 derivation, compared in constant
/// time with the stored SCRAM-SHA-256 StoredKey; argon2id hashes of earlier versions still verify.
/// CPU-heavy: call off the async threads, bounded (see `passwords`).
pub fn check_password(password: &str, credentials: &Credentials) -> PasswordCheck {
    if credentials.password_hash.starts_with("$argon2") {
        return if verify_argon2(password, &credentials.password_hash) {
            PasswordCheck::ValidLegacy
        } else {
            PasswordCheck::Invalid
        };
    }
    let keys = &credentials.scram;
    if keys.sha256_stored_key.is_empty() {
        return PasswordCheck::Invalid;
    }
    let (stored, _) = scram_sha256_keys(password, &keys.salt, keys.iterations);
    if bool::from(stored.ct_eq(&keys.sha256_stored_key)) {
        PasswordCheck::Valid
    } else {
        PasswordCheck::Invalid
    }
}

/// Checks a password against an argon2id PHC string. CPU- and memory-heavy (19 MiB).
fn verify_argon2(password: &str, password_hash: &str) -> bool {
    PasswordHash::new(password_hash)
        .map(|parsed| {
            Argon2::default()
                .verify_password(password.as_bytes(), &parsed)
                .is_ok()
        })
        .unwrap_or(false)
}

/// StoredKey and ServerKey of `secret` for SHA-1 and SHA-256 under one salt and iteration count.
pub fn scram_keys(secret: &str, salt: &[u8], iterations: u32) -> ScramKeys {
    let (sha1_stored_key, sha1_server_key) = scram_sha1_keys(secret, salt, iterations);
    let (sha256_stored_key, sha256_server_key) = scram_sha256_keys(secret, salt, iterations);
    ScramKeys {
        salt: salt.to_vec(),
        iterations,
        sha1_stored_key,
        sha1_server_key,
        sha256_stored_key,
        sha256_server_key,
    }
}

/// (StoredKey, ServerKey) for SCRAM-SHA-1.
pub fn scram_sha1_keys(secret: &str, salt: &[u8], iterations: u32) -> (Vec<u8>, Vec<u8>) {
    let salted = salted_password::sha1(secret.as_bytes(), salt, iterations);
    let client_key = hmac_sha1(&salted, b"Client Key");
    let server_key = hmac_sha1(&salted, b"Server Key");
    (Sha1::digest(client_key).to_vec(), server_key)
}

/// (StoredKey, ServerKey) for SCRAM-SHA-256.
pub fn scram_sha256_keys(secret: &str, salt: &[u8], iterations: u32) -> (Vec<u8>, Vec<u8>) {
    let salted = salted_password::sha256(secret.as_bytes(), salt, iterations);
    let client_key = hmac_sha256(&salted, b"Client Key");
    let server_key = hmac_sha256(&salted, b"Server Key");
    (Sha256::digest(client_key).to_vec(), server_key)
}

pub fn hmac_sha1(key: &[u8], data: &[u8]) -> Vec<u8> {
    let mut mac = Hmac::<Sha1>::new_from_slice(key).expect("HMAC takes keys of any length");
    mac.update(data);
    mac.finalize().into_bytes().to_vec()
}

pub fn hmac_sha256(key: &[u8], data: &[u8]) -> Vec<u8> {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes keys of any length");
    mac.update(data);
    mac.finalize().into_bytes().to_vec()
}

/// SHA-256 of a session token, hex: what the store keeps instead of the token.
pub fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine as _;

    fn b64(bytes: &[u8]) -> String {
        base64::engine::general_purpose::STANDARD.encode(bytes)
    }

    #[test]
    fn new_passwords_verify_against_their_scram_keys_only() {
        let creds = derive_credentials("correct horse", 4096);
        assert_eq!(creds.password_hash, SCRAM_SHA256_VERIFIER);
        assert_eq!(check_password("correct horse", &creds), PasswordCheck::Valid);
        assert_eq!(check_password("wrong horse", &creds), PasswordCheck::Invalid);
        assert_eq!(check_password("", &creds), PasswordCheck::Invalid);
    }

    #[test]
    fn argon2_hashes_of_earlier_versions_still_verify_and_ask_for_an_upgrade() {
        use argon2::password_hash::{rand_core::OsRng, PasswordHasher, SaltString};
        let salt = SaltString::generate(&mut OsRng);
        let legacy = Credentials {
            password_hash: Argon2::default()
                .hash_password(b"old secret", &salt)
                .unwrap()
                .to_string(),
            scram: derive_credentials("old secret", 4096).scram,
        };
        assert_eq!(check_password("old secret", &legacy), PasswordCheck::ValidLegacy);
        assert_eq!(check_password("other", &legacy), PasswordCheck::Invalid);
        let broken = Credentials {
            password_hash: "$argon2id$not a hash".into(),
            scram: legacy.scram.clone(),
        };
        assert_eq!(check_password("old secret", &broken), PasswordCheck::Invalid);
    }

    /// RFC 5802 §5: user "user", password "pencil", salt QSXCR+Q6sek8bf92, 4096 iterations.
    #[test]
    fn scram_sha1_keys_match_rfc5802() {
        let salt = base64::engine::general_purpose::STANDARD
            .decode("QSXCR+Q6sek8bf92")
            .unwrap();
        let (stored, server) = scram_sha1_keys("pencil", &salt, 4096);
        // ServerSignature in the RFC is HMAC(ServerKey, AuthMessage) = rmF9pqV8S7suAoZWja4dJRkFsKQ=
        let auth_message = "n=user,r=fyko+d2lbbFgONRv9qkxdawL,r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,s=QSXCR+Q6sek8bf92,i=4096,c=biws,r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j";
        assert_eq!(
            b64(&hmac_sha1(&server, auth_message.as_bytes())),
            "rmF9pqV8S7suAoZWja4dJRkFsKQ="
        );
        // ClientProof v0X8v3Bz2T0CJGbJQyF0X+HI4Ts= is ClientKey XOR HMAC(StoredKey, AuthMessage).
        let signature = hmac_sha1(&stored, auth_message.as_bytes());
        let proof = base64::engine::general_purpose::STANDARD
            .decode("v0X8v3Bz2T0CJGbJQyF0X+HI4Ts=")
            .unwrap();
        let client_key: Vec<u8> = proof.iter().zip(&signature).map(|(a, b)| a ^ b).collect();
        assert_eq!(Sha1::digest(&client_key).to_vec(), stored);
    }

    /// RFC 7677 §3: the same exchange with SCRAM-SHA-256.
    #[test]
    fn scram_sha256_keys_match_rfc7677() {
        let salt = base64::engine::general_purpose::STANDARD
            .decode("W22ZaJ0SNY7soEsUEjb6gQ==")
            .unwrap();
        let (stored, server) = scram_sha256_keys("pencil", &salt, 4096);
        let auth_message = "n=user,r=rOprNGfwEbeRWgbNEkqO,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096,c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0";
        assert_eq!(
            b64(&hmac_sha256(&server, auth_message.as_bytes())),
            "6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4="
        );
        let signature = hmac_sha256(&stored, auth_message.as_bytes());
        let proof = base64::engine::general_purpose::STANDARD
            .decode("dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=")
            .unwrap();
        let client_key: Vec<u8> = proof.iter().zip(&signature).map(|(a, b)| a ^ b).collect();
        assert_eq!(Sha256::digest(&client_key).to_vec(), stored);
    }
}
