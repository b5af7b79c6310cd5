//! The client side of SASL: PLAIN (RFC 4616) and SCRAM-SHA-1 / SCRAM-SHA-256 (RFC 5802, RFC 7677),
//! without channel binding. A REST session token logs in through either, as the password.

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use hmac::{Hmac, KeyInit, Mac};
use sha1::Sha1;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::Mutex;

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum Mechanism {
    Plain,
    ScramSha1,
    ScramSha256,
}

impl Mechanism {
    pub fn name(self) -> &'static str {
        match self {
            Mechanism::Plain => "PLAIN",
            Mechanism::ScramSha1 => "SCRAM-SHA-1",
            Mechanism::ScramSha256 => "SCRAM-SHA-256",
        }
    }

    pub fn parse(text: &str) -> Option<Mechanism> {
        match text.to_ascii_uppercase().replace('_', "-").as_str() {
            "PLAIN" => Some(Mechanism::Plain),
            "SCRAM-SHA-1" | "SCRAM" => Some(Mechanism::ScramSha1),
            "SCRAM-SHA-256" => Some(Mechanism::ScramSha256),
            _ => None,
        }
    }
}

/// The PLAIN message, base64: `\0user\0password`.
pub fn plain(username: &str, password: &str) -> String {
    B64.encode(format!("\0{username}\0{password}"))
}

/// One SCRAM exchange in progress.
pub struct Scram {
    sha256: bool,
    password: String,
    nonce: String,
    first_bare: String,
    server_signature: Vec<u8>,
}

impl Scram {
    /// Starts an exchange with a client nonce (random in real use; fixed in tests).
    pub fn new(mechanism: Mechanism, username: &str, password: &str, nonce: &str) -> Scram {
        let username = username.replace('=', "=3D").replace(',', "=2C");
        Scram {
            sha256: mechanism == Mechanism::ScramSha256,
            password: password.to_owned(),
            nonce: nonce.to_owned(),
            first_bare: format!("n={username},r={nonce}"),
            server_signature: Vec::new(),
        }
    }

    /// The client-first message, base64.
    pub fn client_first(&self) -> String {
        B64.encode(format!("n,,{}", self.first_bare))
    }

    /// Answers the server-first message (base64) with the client-final message (base64).
    pub fn client_final(&mut self, server_first_b64: &str) -> Result<String, String> {
        let server_first = B64
            .decode(server_first_b64.trim())
            .ok()
            .and_then(|b| String::from_utf8(b).ok())
            .ok_or("server-first is not base64 text")?;
        let field = |name: &str| {
            server_first
                .split(',')
                .find_map(|part| part.strip_prefix(name))
                .ok_or_else(|| format!("server-first lacks {name}: {server_first}"))
        };
        let nonce = field("r=")?;
        if !nonce.starts_with(&self.nonce) {
            return Err("server nonce does not extend ours".into());
        }
        let salt = B64.decode(field("s=")?).map_err(|e| e.to_string())?;
        let iterations: u32 = field("i=")?.parse().map_err(|_| "bad iteration count")?;
        let without_proof = format!("c=biws,r={nonce}");
        let auth_message = format!("{},{server_first},{without_proof}", self.first_bare);
        let (proof, server_signature) = if self.sha256 {
            proof_sha256(&self.password, &salt, iterations, &auth_message)
        } else {
            proof_sha1(&self.password, &salt, iterations, &auth_message)
        };
        self.server_signature = server_signature;
        Ok(B64.encode(format!("{without_proof},p={}", B64.encode(proof))))
    }

    /// Checks the server's final message (`v=...`, base64) inside `<success>`.
    pub fn verify(&self, server_final_b64: &str) -> bool {
        let expected = format!("v={}", B64.encode(&self.server_signature));
        B64.decode(server_final_b64.trim())
            .map(|got| got == expected.as_bytes())
            .unwrap_or(false)
    }
}

/// SaltedPassword by (SHA-256?, password, salt, iterations). RFC 5802 §5.1 lets a client keep it for as
/// long as the server's salt and iteration count stay the same; doing so keeps the generator's own PBKDF2
/// work out of a login storm wherever users share a salt, so the figure is the server's. Bounded: emptied
/// when full.
static SALTED: std::sync::LazyLock<Mutex<HashMap<SaltedKey, Vec<u8>>>> =
    std::sync::LazyLock::new(Mutex::default);
type SaltedKey = (bool, String, Vec<u8>, u32);
const SALTED_CACHE_LIMIT: usize = 100_000;

fn salted_password(sha256: bool, password: &str, salt: &[u8], iterations: u32) -> Vec<u8> {
    let key = (sha256, password.to_owned(), salt.to_vec(), iterations);
    if let Some(salted) = SALTED.lock().expect("not poisoned").get(&key) {
        return salted.clone();
    }
    let salted = if sha256 {
        let mut out = vec![0u8; 32];
        pbkdf2::pbkdf2_hmac::<Sha256>(password.as_bytes(), salt, iterations, &mut out);
        out
    } else {
        let mut out = vec![0u8; 20];
        pbkdf2::pbkdf2_hmac::<Sha1>(password.as_bytes(), salt, iterations, &mut out);
        out
    };
    let mut cache = SALTED.lock().expect("not poisoned");
    if cache.len() >= SALTED_CACHE_LIMIT {
        cache.clear();
    }
    cache.insert(key, salted.clone());
    salted
}

/// `(ClientProof, ServerSignature)` functions for one hash.
macro_rules! scram_proof {
    ($name:ident, $hash:ty, $sha256:expr) => {
        fn $name(password: &str, salt: &[u8], iterations: u32, auth_message: &str) -> (Vec<u8>, Vec<u8>) {
            let salted = salted_password($sha256, password, salt, iterations);
            let mac = |key: &[u8], data: &[u8]| {
                let mut m = Hmac::<$hash>::new_from_slice(key).expect("HMAC takes keys of any length");
                m.update(data);
                m.finalize().into_bytes().to_vec()
            };
            let client_key = mac(&salted, b"Client Key");
            let stored_key = <$hash>::digest(&client_key).to_vec();
            let signature = mac(&stored_key, auth_message.as_bytes());
            let proof = client_key
                .iter()
                .zip(&signature)
                .map(|(a, b)| a ^ b)
                .collect();
            let server_key = mac(&salted, b"Server Key");
            (proof, mac(&server_key, auth_message.as_bytes()))
        }
    };
}
scram_proof!(proof_sha1, Sha1, false);
scram_proof!(proof_sha256, Sha256, true);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_is_nul_separated() {
        assert_eq!(B64.decode(plain("7-1", "secret")).unwrap(), b"\x007-1\x00secret");
    }

    /// RFC 5802 §5.
    #[test]
    fn scram_sha1_matches_the_rfc_example() {
        let mut scram = Scram::new(Mechanism::ScramSha1, "user", "pencil", "fyko+d2lbbFgONRv9qkxdawL");
        assert_eq!(
            B64.decode(scram.client_first()).unwrap(),
            b"n,,n=user,r=fyko+d2lbbFgONRv9qkxdawL"
        );
        let server_first =
            B64.encode("r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,s=QSXCR+Q6sek8bf92,i=4096");
        let last = scram.client_final(&server_first).unwrap();
        assert_eq!(
            String::from_utf8(B64.decode(last).unwrap()).unwrap(),
            "c=biws,r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,p=v0X8v3Bz2T0CJGbJQyF0X+HI4Ts="
        );
        assert!(scram.verify(&B64.encode("v=rmF9pqV8S7suAoZWja4dJRkFsKQ=")));
        assert!(!scram.verify(&B64.encode("v=AAAA")));
    }

    /// RFC 7677 §3.
    #[test]
    fn scram_sha256_matches_the_rfc_example() {
        let mut scram = Scram::new(Mechanism::ScramSha256, "user", "pencil", "rOprNGfwEbeRWgbNEkqO");
        let server_first = B64
            .encode("r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096");
        let last = scram.client_final(&server_first).unwrap();
        assert_eq!(
            String::from_utf8(B64.decode(last).unwrap()).unwrap(),
            "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="
        );
        assert!(scram.verify(&B64.encode("v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=")));
    }

    #[test]
    fn a_server_nonce_that_does_not_extend_ours_is_refused() {
        let mut scram = Scram::new(Mechanism::ScramSha1, "user", "pencil", "abc");
        assert!(scram
            .client_final(&B64.encode("r=xyz,s=QSXCR+Q6sek8bf92,i=4096"))
            .is_err());
    }
}
