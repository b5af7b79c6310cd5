//! SCRAM's SaltedPassword: PBKDF2 with HMAC-SHA-1 or HMAC-SHA-256 (RFC 8018), for one output block,
//! the whole of what SCRAM needs.
//!
//! Every password login pays one of these (4,096 iterations or more), so it is built for that loop: the
//! HMAC key's inner and outer blocks are compressed once, and each iteration hashes a message of fixed
//! size, which is exactly two calls of the hash's compression function from those two states. The
//! generic HMAC and PBKDF2 crates copy and re-pad a hasher for each of the 8,192 calls. What that costs
//! depends on the CPU (docs/benchmarks.md, the ninth and nineteenth sittings): on one AMD EPYC this loop
//! timed the same as `pbkdf2::pbkdf2_hmac`, on another 20 % faster, where perf had put a third of a
//! PLAIN login's derivation outside the compression function; in debug builds, which compile the
//! crates' generic code unoptimised into this crate, it is three times faster. The compression
//! functions are the `sha1` and `sha2` crates' own (with the CPU's SHA instructions where it has them);
//! the tests hold the results to the `pbkdf2` crate's and to the RFCs' test vectors.

use ::sha1::Sha1;
use sha2::{Digest, Sha256};

/// PBKDF2-HMAC-SHA-256 of `secret`, 32 bytes.
pub fn sha256(secret: &[u8], salt: &[u8], iterations: u32) -> [u8; 32] {
    let mut out = [0u8; 32];
    let key = long_key_hashed(secret, |key| Sha256::digest(key).to_vec());
    derive(&SHA256, &key, salt, iterations, &mut out);
    out
}

/// PBKDF2-HMAC-SHA-1 of `secret`, 20 bytes.
pub fn sha1(secret: &[u8], salt: &[u8], iterations: u32) -> [u8; 20] {
    let mut out = [0u8; 20];
    let key = long_key_hashed(secret, |key| Sha1::digest(key).to_vec());
    derive(&SHA1, &key, salt, iterations, &mut out);
    out
}

const BLOCK: usize = 64;

/// What PBKDF2 needs of a hash with 64-byte blocks, big-endian words and a 64-bit length: its initial
/// state of `W` words and its compression function. The output is the whole state.
struct Sha<const W: usize> {
    initial: [u32; W],
    compress: fn(&mut [u32; W], &[[u8; BLOCK]]),
}

/// FIPS 180-4's initial hash values.
const SHA256: Sha<8> = Sha {
    initial: [
        0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19,
    ],
    compress: sha2::block_api::compress256,
};

const SHA1: Sha<5> = Sha {
    initial: [0x67452301, 0xefcdab89, 0x98badcfe, 0x10325476, 0xc3d2e1f0],
    compress: ::sha1::block_api::compress,
};

/// HMAC's rule: a key longer than a block is replaced by its hash.
fn long_key_hashed(secret: &[u8], hash: impl Fn(&[u8]) -> Vec<u8>) -> Vec<u8> {
    if secret.len() > BLOCK {
        hash(secret)
    } else {
        secret.to_vec()
    }
}

/// T1 = U1 ^ U2 ^ … ^ Uc into `out` (the state's bytes, `4 × W` long), with U1 = HMAC(key, salt ‖ 1)
/// and each further U the HMAC of the one before.
fn derive<const W: usize>(hash: &Sha<W>, key: &[u8], salt: &[u8], iterations: u32, out: &mut [u8]) {
    let inner = hash.keyed(key, 0x36);
    let outer = hash.keyed(key, 0x5c);
    let mut first = Vec::with_capacity(salt.len() + 4);
    first.extend_from_slice(salt);
    first.extend_from_slice(&1u32.to_be_bytes());
    let mut u = hash.finish_words(outer, &hash.finish(inner, &first));
    let mut t = u;
    for _ in 1..iterations.max(1) {
        u = hash.finish_words(outer, &hash.finish_words(inner, &u));
        for (t, u) in t.iter_mut().zip(&u) {
            *t ^= u;
        }
    }
    for (chunk, word) in out.chunks_exact_mut(4).zip(t) {
        chunk.copy_from_slice(&word.to_be_bytes());
    }
}

impl<const W: usize> Sha<W> {
    /// The state after the key's block XOR `pad` (HMAC's inner or outer block).
    fn keyed(&self, key: &[u8], pad: u8) -> [u32; W] {
        let mut block = [pad; BLOCK];
        for (byte, key) in block.iter_mut().zip(key) {
            *byte ^= key;
        }
        let mut state = self.initial;
        (self.compress)(&mut state, &[block]);
        state
    }

    /// The hash of one keyed block followed by `data`, from the keyed state.
    fn finish(&self, mut state: [u32; W], data: &[u8]) -> [u32; W] {
        let bits = ((BLOCK + data.len()) as u64) * 8;
        let mut whole = data.chunks_exact(BLOCK);
        for block in &mut whole {
            (self.compress)(&mut state, &[block.try_into().expect("a whole block")]);
        }
        let rest = whole.remainder();
        let mut tail = [[0u8; BLOCK]; 2];
        let flat = tail.as_flattened_mut();
        flat[..rest.len()].copy_from_slice(rest);
        flat[rest.len()] = 0x80;
        let used = if rest.len() + 9 <= BLOCK { 1 } else { 2 };
        flat[used * BLOCK - 8..used * BLOCK].copy_from_slice(&bits.to_be_bytes());
        (self.compress)(&mut state, &tail[..used]);
        state
    }

    /// `finish` of the `4 × W` bytes of another hash's output: each iteration's message, which fits
    /// one block with its padding.
    fn finish_words(&self, mut state: [u32; W], words: &[u32; W]) -> [u32; W] {
        let mut block = [0u8; BLOCK];
        for (chunk, word) in block.chunks_exact_mut(4).zip(words) {
            chunk.copy_from_slice(&word.to_be_bytes());
        }
        block[4 * W] = 0x80;
        block[BLOCK - 8..].copy_from_slice(&(((BLOCK + 4 * W) as u64) * 8).to_be_bytes());
        (self.compress)(&mut state, &[block]);
        state
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }

    #[test]
    fn matches_the_rfc_test_vectors() {
        // RFC 6070 (PBKDF2-HMAC-SHA1), the first 20 bytes of each.
        let sha1_vectors: [(&[u8], &[u8], u32, &str); 3] = [
            (
                b"password",
                b"salt",
                1,
                "0c60c80f961f0e71f3a9b524af6012062fe037a6",
            ),
            (
                b"password",
                b"salt",
                4096,
                "4b007901b765489abead49d926f721d065a429c1",
            ),
            (
                b"passwordPASSWORDpassword",
                b"saltSALTsaltSALTsaltSALTsaltSALTsalt",
                4096,
                "3d2eec4fe41c849b80c8d83662c0e44a8b291a96",
            ),
        ];
        for (password, salt, iterations, expected) in sha1_vectors {
            assert_eq!(hex(&sha1(password, salt, iterations)), expected);
        }
        // RFC 7914 section 11 (PBKDF2-HMAC-SHA256), the first 32 bytes of each.
        let sha256_vectors: [(&[u8], &[u8], u32, &str); 2] = [
            (
                b"passwd",
                b"salt",
                1,
                "55ac046e56e3089fec1691c22544b605f94185216dde0465e68b9d57c20dacbc",
            ),
            (
                b"Password",
                b"NaCl",
                80000,
                "4ddcd8f60b98be21830cee5ef22701f9641a4418d04c0414aeff08876b34ab56",
            ),
        ];
        for (password, salt, iterations, expected) in sha256_vectors {
            assert_eq!(hex(&sha256(password, salt, iterations)), expected);
        }
    }

    /// Against the `pbkdf2` crate across the lengths where the padding and the key handling change:
    /// keys up to and past a block, salts that end the first message in either padding block.
    #[test]
    fn matches_the_pbkdf2_crate_for_keys_and_salts_of_every_size_around_a_block() {
        for key_len in [0, 1, 20, 32, 55, 56, 63, 64, 65, 100, 200] {
            for salt_len in [0, 1, 16, 51, 52, 55, 56, 59, 60, 64, 100, 130] {
                let key: Vec<u8> = (0..key_len).map(|i| (i * 7 + 3) as u8).collect();
                let salt: Vec<u8> = (0..salt_len).map(|i| (i * 13 + 1) as u8).collect();
                for iterations in [1, 2, 3, 17] {
                    let mut expected = [0u8; 32];
                    pbkdf2::pbkdf2_hmac::<Sha256>(&key, &salt, iterations, &mut expected);
                    assert_eq!(sha256(&key, &salt, iterations), expected, "{key_len} {salt_len}");
                    let mut expected = [0u8; 20];
                    pbkdf2::pbkdf2_hmac::<Sha1>(&key, &salt, iterations, &mut expected);
                    assert_eq!(sha1(&key, &salt, iterations), expected, "{key_len} {salt_len}");
                }
            }
        }
    }
}
