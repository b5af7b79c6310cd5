//! SCRAM-SHA-1 (RFC 5802) and SCRAM-SHA-256 (RFC 7677), without channel binding.

use super::{
    authzid_allowed, Authenticated, CredentialLookup, SaslFailure, SaslStep, ScramHash, ScramKeyPair,
};
use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use palaver_core::credentials::{hmac_sha1, hmac_sha256};
use palaver_proto::UserJid;
use rand::rngs::OsRng;
use rand::RngCore;
use sha1::Digest as _;
use std::sync::OnceLock;
use subtle::ConstantTimeEq;

/// Random bytes in the server's part of the nonce (RFC 5802 asks for enough to be unpredictable).
const SERVER_NONCE_BYTES: usize = 24;
/// Iteration count shown for unknown users.
const FAKE_ITERATIONS: u32 = 4096;
/// Salt length shown for unknown users; the same as real salts (`derive_credentials`).
const FAKE_SALT_LEN: usize = 16;

impl ScramHash {
    fn hmac(self, key: &[u8], data: &[u8]) -> Vec<u8> {
        match self {
            ScramHash::Sha1 => hmac_sha1(key, data),
            ScramHash::Sha256 => hmac_sha256(key, data),
        }
    }

    fn digest(self, data: &[u8]) -> Vec<u8> {
        match self {
            ScramHash::Sha1 => sha1::Sha1::digest(data).to_vec(),
            ScramHash::Sha256 => sha2::Sha256::digest(data).to_vec(),
        }
    }

    fn output_len(self) -> usize {
        match self {
            ScramHash::Sha1 => 20,
            ScramHash::Sha256 => 32,
        }
    }
}

pub(super) struct ScramServer {
    hash: ScramHash,
    /// Fixed server nonce for the RFC test vectors; random otherwise.
    #[cfg(test)]
    server_nonce: Option<String>,
    pending: Option<Pending>,
}

/// What the server remembers between server-first and client-final.
struct Pending {
    gs2_header: String,
    client_first_bare: String,
    server_first: String,
    nonce: String,
    /// None for an unknown user: the exchange continues so as not to reveal that, then fails.
    user: Option<UserJid>,
    keys: Vec<ScramKeyPair>,
    sealed_tokens: Vec<i64>,
}

impl ScramServer {
    pub(super) fn new(hash: ScramHash) -> ScramServer {
        ScramServer {
            hash,
            #[cfg(test)]
            server_nonce: None,
            pending: None,
        }
    }

    #[cfg(test)]
    pub(super) fn set_server_nonce(&mut self, nonce: &str) {
        self.server_nonce = Some(nonce.to_owned());
    }

    pub(super) async fn step(
        &mut self,
        input: &[u8],
        domain: &str,
        credentials: &dyn CredentialLookup,
    ) -> SaslStep {
        let result = match self.pending.take() {
            None => self.client_first(input, domain, credentials).await,
            Some(pending) => self.client_final(input, &pending, credentials).await,
        };
        result.unwrap_or_else(SaslStep::Failure)
    }

    async fn client_first(
        &mut self,
        input: &[u8],
        domain: &str,
        credentials: &dyn CredentialLookup,
    ) -> Result<SaslStep, SaslFailure> {
        let first = ClientFirst::parse(input)?;
        if let Some(authzid) = &first.authzid {
            if !authzid_allowed(authzid, &first.username, domain) {
                return Err(SaslFailure::NotAuthorized);
            }
        }
        let (user, salt, iterations, keys, sealed_tokens) =
            match credentials.scram(&first.username, self.hash).await {
                Some(creds) => (
                    Some(creds.user),
                    creds.salt,
                    creds.iterations,
                    creds.keys,
                    creds.sealed_tokens,
                ),
                None => (
                    None,
                    fake_salt(&first.username),
                    FAKE_ITERATIONS,
                    vec![self.random_keys()],
                    Vec::new(),
                ),
            };
        let nonce = format!("{}{}", first.nonce, self.server_nonce());
        let server_first = format!("r={nonce},s={},i={iterations}", STANDARD.encode(&salt));
        self.pending = Some(Pending {
            gs2_header: first.gs2_header.to_owned(),
            client_first_bare: first.bare.to_owned(),
            server_first: server_first.clone(),
            nonce,
            user,
            keys,
            sealed_tokens,
        });
        Ok(SaslStep::Challenge(server_first.into_bytes()))
    }

    async fn client_final(
        &self,
        input: &[u8],
        pending: &Pending,
        credentials: &dyn CredentialLookup,
    ) -> Result<SaslStep, SaslFailure> {
        let message = std::str::from_utf8(input).map_err(|_| SaslFailure::MalformedRequest)?;
        // The proof is the last attribute; everything before it is signed (RFC 5802 §7).
        let (without_proof, proof) = message.rsplit_once(",p=").ok_or(SaslFailure::MalformedRequest)?;
        let mut attributes = without_proof.split(',');
        let channel_binding = attributes
            .next()
            .and_then(|a| a.strip_prefix("c="))
            .ok_or(SaslFailure::MalformedRequest)?;
        let nonce = attributes
            .next()
            .and_then(|a| a.strip_prefix("r="))
            .ok_or(SaslFailure::MalformedRequest)?;
        // Without channel binding, c= is just the GS2 header echoed back.
        if decode(channel_binding)? != pending.gs2_header.as_bytes() || nonce != pending.nonce {
            return Err(SaslFailure::MalformedRequest);
        }
        let proof = decode(proof)?;
        if proof.len() != self.hash.output_len() {
            return Err(SaslFailure::NotAuthorized);
        }

        let auth_message = format!(
            "{},{},{}",
            pending.client_first_bare, pending.server_first, without_proof
        );
        let mut matched = pending
            .keys
            .iter()
            .find(|keys| self.proof_matches(&proof, keys, auth_message.as_bytes()))
            .cloned();
        // Tokens kept sealed are derived only when nothing else matched, newest first, until one does.
        if let (None, Some(user)) = (&matched, pending.user) {
            for session_id in &pending.sealed_tokens {
                let Some(keys) = credentials.token_keys(user, *session_id, self.hash).await else {
                    continue;
                };
                if self.proof_matches(&proof, &keys, auth_message.as_bytes()) {
                    matched = Some(keys);
                    break;
                }
            }
        }
        if let Some(session_id) = matched.as_ref().and_then(|keys| keys.token_session) {
            if !credentials.token_used(session_id).await {
                matched = None;
            }
        }
        match (matched, pending.user) {
            (Some(keys), Some(user)) => {
                let signature = self.hash.hmac(&keys.server_key, auth_message.as_bytes());
                Ok(SaslStep::Success {
                    additional_data: Some(format!("v={}", STANDARD.encode(signature)).into_bytes()),
                    authenticated: Authenticated {
                        user,
                        token_session: keys.token_session,
                    },
                })
            }
            _ => Err(SaslFailure::NotAuthorized),
        }
    }

    /// ClientKey = proof XOR HMAC(StoredKey, AuthMessage); the proof holds iff H(ClientKey) = StoredKey.
    fn proof_matches(&self, proof: &[u8], keys: &ScramKeyPair, auth_message: &[u8]) -> bool {
        let signature = self.hash.hmac(&keys.stored_key, auth_message);
        let client_key: Vec<u8> = proof.iter().zip(&signature).map(|(p, s)| p ^ s).collect();
        self.hash.digest(&client_key).ct_eq(&keys.stored_key).into()
    }

    fn server_nonce(&self) -> String {
        #[cfg(test)]
        if let Some(nonce) = &self.server_nonce {
            return nonce.clone();
        }
        let mut bytes = [0u8; SERVER_NONCE_BYTES];
        OsRng.fill_bytes(&mut bytes);
        // Base64 never contains ',', the attribute separator.
        STANDARD.encode(bytes)
    }

    /// Keys no proof can match, so an unknown user goes through the same verification as a known one.
    fn random_keys(&self) -> ScramKeyPair {
        let mut stored_key = vec![0u8; self.hash.output_len()];
        OsRng.fill_bytes(&mut stored_key);
        ScramKeyPair {
            server_key: stored_key.clone(),
            stored_key,
            token_session: None,
        }
    }
}

/// A stable salt for an unknown user: repeated attempts see the same salt, as for a real user, but it
/// cannot be told apart from a random one without the per-process secret.
fn fake_salt(username: &str) -> Vec<u8> {
    static SECRET: OnceLock<[u8; 32]> = OnceLock::new();
    let secret = SECRET.get_or_init(|| {
        let mut secret = [0u8; 32];
        OsRng.fill_bytes(&mut secret);
        secret
    });
    let mut salt = hmac_sha256(secret, format!("scram-salt\0{username}").as_bytes());
    salt.truncate(FAKE_SALT_LEN);
    salt
}

fn decode(text: &str) -> Result<Vec<u8>, SaslFailure> {
    STANDARD.decode(text).map_err(|_| SaslFailure::MalformedRequest)
}

/// The parts of a client-first-message (RFC 5802 §7).
struct ClientFirst<'a> {
    /// `n,,`, `y,,` or `n,a=…,`: echoed back (base64) in the client-final `c=`.
    gs2_header: &'a str,
    authzid: Option<String>,
    username: String,
    nonce: &'a str,
    /// client-first-message-bare, part of the AuthMessage.
    bare: &'a str,
}

impl<'a> ClientFirst<'a> {
    fn parse(input: &'a [u8]) -> Result<ClientFirst<'a>, SaslFailure> {
        const MALFORMED: SaslFailure = SaslFailure::MalformedRequest;
        let message = std::str::from_utf8(input).map_err(|_| MALFORMED)?;
        let (flag, rest) = message.split_once(',').ok_or(MALFORMED)?;
        // "n": client can't bind; "y": client could but we don't advertise -PLUS. "p=…" asks for channel
        // binding, which we don't offer.
        if flag != "n" && flag != "y" {
            return Err(MALFORMED);
        }
        let (authzid, bare) = rest.split_once(',').ok_or(MALFORMED)?;
        let gs2_header = &message[..message.len() - bare.len()];
        let authzid = match authzid {
            "" => None,
            a => Some(unescape(a.strip_prefix("a=").ok_or(MALFORMED)?)?),
        };

        // "m=" (reserved-mext) must fail; so does anything but n= first.
        let mut attributes = bare.split(',');
        let username = attributes
            .next()
            .and_then(|a| a.strip_prefix("n="))
            .ok_or(MALFORMED)?;
        let username = unescape(username)?;
        let nonce = attributes
            .next()
            .and_then(|a| a.strip_prefix("r="))
            .ok_or(MALFORMED)?;
        if nonce.is_empty() || !nonce.bytes().all(|b| (0x21..=0x7e).contains(&b)) {
            return Err(MALFORMED);
        }
        // Optional extensions follow; none is mandatory, so they are ignored.
        Ok(ClientFirst {
            gs2_header,
            authzid,
            username,
            nonce,
            bare,
        })
    }
}

/// Undoes saslname escaping (`=2C` → `,`, `=3D` → `=`); any other `=` is malformed, as is an empty name.
fn unescape(saslname: &str) -> Result<String, SaslFailure> {
    if saslname.is_empty() {
        return Err(SaslFailure::MalformedRequest);
    }
    let mut out = String::with_capacity(saslname.len());
    let mut rest = saslname;
    while let Some(at) = rest.find('=') {
        out.push_str(&rest[..at]);
        let escape = rest.get(at..at + 3);
        out.push(match escape {
            Some("=2C") => ',',
            Some("=3D") => '=',
            _ => return Err(SaslFailure::MalformedRequest),
        });
        rest = &rest[at + 3..];
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::super::{Mechanism, SaslServer, ScramCredentials};
    use super::*;
    use palaver_core::credentials::{scram_sha1_keys, scram_sha256_keys};

    const DOMAIN: &str = "example.com";
    const USER: UserJid = UserJid {
        user_id: 5,
        app_id: 1,
    };
    const TOKEN: &str = "0123456789abcdef-token";
    const TOKEN_SESSION: i64 = 77;

    const SHA1_SALT: &str = "QSXCR+Q6sek8bf92";
    const SHA256_SALT: &str = "W22ZaJ0SNY7soEsUEjb6gQ==";

    /// RFC user "user" (password "pencil") with a live session token, whose keys are known up front or
    /// (`sealed`) derived when asked, counted in `derived`; every other name is unknown. Tokens used are
    /// recorded in `used`; the session `gone` ends between the lookup and the proof.
    struct Fake {
        with_token: bool,
        sealed: bool,
        derived: std::sync::atomic::AtomicUsize,
        used: std::sync::Mutex<Vec<i64>>,
        gone: Option<i64>,
    }

    impl Fake {
        const fn new(with_token: bool, sealed: bool) -> Fake {
            Fake {
                with_token,
                sealed,
                derived: std::sync::atomic::AtomicUsize::new(0),
                used: std::sync::Mutex::new(Vec::new()),
                gone: None,
            }
        }
    }

    fn derive_pair(secret: &str, hash: ScramHash, token_session: Option<i64>) -> ScramKeyPair {
        type Derive = fn(&str, &[u8], u32) -> (Vec<u8>, Vec<u8>);
        let (salt, derive): (_, Derive) = match hash {
            ScramHash::Sha1 => (SHA1_SALT, scram_sha1_keys),
            ScramHash::Sha256 => (SHA256_SALT, scram_sha256_keys),
        };
        let (stored_key, server_key) = derive(secret, &STANDARD.decode(salt).unwrap(), 4096);
        ScramKeyPair {
            stored_key,
            server_key,
            token_session,
        }
    }

    #[async_trait::async_trait]
    impl CredentialLookup for Fake {
        async fn scram(&self, username: &str, hash: ScramHash) -> Option<ScramCredentials> {
            if username != "user" {
                return None;
            }
            let salt = match hash {
                ScramHash::Sha1 => SHA1_SALT,
                ScramHash::Sha256 => SHA256_SALT,
            };
            let mut secrets = vec![("pencil", None)];
            if self.with_token && !self.sealed {
                // The token first, so a password login proves every pair is tried.
                secrets.insert(0, (TOKEN, Some(TOKEN_SESSION)));
            }
            let keys = secrets
                .into_iter()
                .map(|(secret, token_session)| derive_pair(secret, hash, token_session))
                .collect();
            Some(ScramCredentials {
                user: USER,
                salt: STANDARD.decode(salt).unwrap(),
                iterations: 4096,
                keys,
                sealed_tokens: if self.with_token && self.sealed {
                    vec![TOKEN_SESSION + 1, TOKEN_SESSION]
                } else {
                    Vec::new()
                },
            })
        }
        async fn token_keys(&self, user: UserJid, session_id: i64, hash: ScramHash) -> Option<ScramKeyPair> {
            assert_eq!(user, USER);
            self.derived.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            // Session TOKEN_SESSION + 1 is a newer token of the same user (another secret).
            let secret = if session_id == TOKEN_SESSION {
                TOKEN
            } else {
                "newer-token"
            };
            Some(derive_pair(secret, hash, Some(session_id)))
        }
        async fn token_used(&self, session_id: i64) -> bool {
            self.used.lock().unwrap().push(session_id);
            self.gone != Some(session_id)
        }
        async fn plain(&self, _: &str, _: &str) -> Option<Authenticated> {
            None
        }
    }

    static FAKE: Fake = Fake::new(true, false);

    fn challenge(step: SaslStep) -> String {
        match step {
            SaslStep::Challenge(bytes) => String::from_utf8(bytes).unwrap(),
            other => panic!("expected a challenge, got {other:?}"),
        }
    }

    fn failure(step: SaslStep) -> SaslFailure {
        match step {
            SaslStep::Failure(failure) => failure,
            other => panic!("expected a failure, got {other:?}"),
        }
    }

    /// Hi() of RFC 5802 §2.2 (PBKDF2 with HMAC), for playing the client.
    fn hi(hash: ScramHash, secret: &str, salt: &[u8], iterations: u32) -> Vec<u8> {
        let mut u = hash.hmac(secret.as_bytes(), &[salt, &1u32.to_be_bytes()].concat());
        let mut out = u.clone();
        for _ in 1..iterations {
            u = hash.hmac(secret.as_bytes(), &u);
            out.iter_mut().zip(&u).for_each(|(o, b)| *o ^= b);
        }
        out
    }

    /// The client-final-message a client with `secret` sends for this exchange.
    fn client_final(hash: ScramHash, secret: &str, client_first: &str, server_first: &str) -> String {
        let client_first_bare = client_first.splitn(3, ',').nth(2).unwrap();
        let gs2_header = &client_first[..client_first.len() - client_first_bare.len()];
        let nonce = server_first.split(',').next().unwrap();
        let (salt_b64, iterations) = server_first
            .split_once(",s=")
            .unwrap()
            .1
            .split_once(",i=")
            .unwrap();
        let salt = STANDARD.decode(salt_b64).unwrap();
        let salted = hi(hash, secret, &salt, iterations.parse().unwrap());
        let without_proof = format!("c={},{nonce}", STANDARD.encode(gs2_header));
        let auth_message = format!("{client_first_bare},{server_first},{without_proof}");
        let client_key = hash.hmac(&salted, b"Client Key");
        let signature = hash.hmac(&hash.digest(&client_key), auth_message.as_bytes());
        let proof: Vec<u8> = client_key.iter().zip(&signature).map(|(k, s)| k ^ s).collect();
        format!("{without_proof},p={}", STANDARD.encode(proof))
    }

    /// RFC 5802 §5, replayed byte for byte.
    #[tokio::test]
    async fn rfc5802_sha1_example() {
        let mut server = SaslServer::with_server_nonce(Mechanism::ScramSha1, DOMAIN, "3rfcNHYJY1ZVvWVs7j");
        let first = challenge(server.step(b"n,,n=user,r=fyko+d2lbbFgONRv9qkxdawL", &FAKE).await);
        assert_eq!(
            first,
            "r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,s=QSXCR+Q6sek8bf92,i=4096"
        );
        let last = server
            .step(
                b"c=biws,r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,p=v0X8v3Bz2T0CJGbJQyF0X+HI4Ts=",
                &FAKE,
            )
            .await;
        assert_eq!(
            last,
            SaslStep::Success {
                additional_data: Some(b"v=rmF9pqV8S7suAoZWja4dJRkFsKQ=".to_vec()),
                authenticated: Authenticated {
                    user: USER,
                    token_session: None
                },
            }
        );
        // Nothing after the outcome.
        assert_eq!(
            failure(server.step(b"c=biws", &FAKE).await),
            SaslFailure::MalformedRequest
        );
    }

    /// RFC 7677 §3, replayed byte for byte.
    #[tokio::test]
    async fn rfc7677_sha256_example() {
        let mut server =
            SaslServer::with_server_nonce(Mechanism::ScramSha256, DOMAIN, "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0");
        let first = challenge(server.step(b"n,,n=user,r=rOprNGfwEbeRWgbNEkqO", &FAKE).await);
        assert_eq!(
            first,
            "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096"
        );
        let last = server
            .step(
                b"c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=",
                &FAKE,
            )
            .await;
        assert_eq!(
            last,
            SaslStep::Success {
                additional_data: Some(b"v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=".to_vec()),
                authenticated: Authenticated {
                    user: USER,
                    token_session: None
                },
            }
        );
    }

    /// A full exchange with a random server nonce; returns the final step.
    async fn exchange(mechanism: Mechanism, secret: &str, client_first: &str) -> SaslStep {
        exchange_with(&FAKE, mechanism, secret, client_first).await
    }

    async fn exchange_with(
        lookup: &Fake,
        mechanism: Mechanism,
        secret: &str,
        client_first: &str,
    ) -> SaslStep {
        let hash = match mechanism {
            Mechanism::ScramSha256 => ScramHash::Sha256,
            _ => ScramHash::Sha1,
        };
        let mut server = SaslServer::new(mechanism, DOMAIN);
        let server_first = challenge(server.step(client_first.as_bytes(), lookup).await);
        let response = client_final(hash, secret, client_first, &server_first);
        server.step(response.as_bytes(), lookup).await
    }

    #[tokio::test]
    async fn sealed_tokens_are_derived_only_when_nothing_else_matches_newest_first() {
        use std::sync::atomic::Ordering::SeqCst;
        for mechanism in [Mechanism::ScramSha1, Mechanism::ScramSha256] {
            let lookup = Fake::new(true, true);
            let step = exchange_with(&lookup, mechanism, "pencil", "n,,n=user,r=0123456789abcdef").await;
            assert!(matches!(step, SaslStep::Success { .. }), "{step:?}");
            assert_eq!(
                lookup.derived.load(SeqCst),
                0,
                "the password matched: no token derived"
            );

            let step = exchange_with(&lookup, mechanism, "newer-token", "n,,n=user,r=0123456789abcdef").await;
            let SaslStep::Success { authenticated, .. } = step else {
                panic!("{step:?}")
            };
            assert_eq!(authenticated.token_session, Some(TOKEN_SESSION + 1));
            assert_eq!(lookup.derived.load(SeqCst), 1, "the newest token matched first");

            let step = exchange_with(&lookup, mechanism, TOKEN, "n,,n=user,r=0123456789abcdef").await;
            let SaslStep::Success { authenticated, .. } = step else {
                panic!("{step:?}")
            };
            assert_eq!(authenticated.token_session, Some(TOKEN_SESSION));
            assert_eq!(lookup.derived.load(SeqCst), 3);

            let step = exchange_with(&lookup, mechanism, "wrong", "n,,n=user,r=0123456789abcdef").await;
            assert_eq!(failure(step), SaslFailure::NotAuthorized);
        }
    }

    #[tokio::test]
    async fn a_token_login_uses_the_token_and_fails_if_its_session_ended_meanwhile() {
        for sealed in [false, true] {
            let lookup = Fake::new(true, sealed);
            let step = exchange_with(
                &lookup,
                Mechanism::ScramSha256,
                "pencil",
                "n,,n=user,r=0123456789abcdef",
            )
            .await;
            assert!(matches!(step, SaslStep::Success { .. }), "{step:?}");
            assert!(
                lookup.used.lock().unwrap().is_empty(),
                "a password login uses no token"
            );
            let step = exchange_with(
                &lookup,
                Mechanism::ScramSha256,
                TOKEN,
                "n,,n=user,r=0123456789abcdef",
            )
            .await;
            assert!(matches!(step, SaslStep::Success { .. }), "{step:?}");
            assert_eq!(*lookup.used.lock().unwrap(), [TOKEN_SESSION]);

            let lookup = Fake {
                gone: Some(TOKEN_SESSION),
                ..Fake::new(true, sealed)
            };
            let step = exchange_with(
                &lookup,
                Mechanism::ScramSha1,
                TOKEN,
                "n,,n=user,r=0123456789abcdef",
            )
            .await;
            assert_eq!(failure(step), SaslFailure::NotAuthorized);
            assert_eq!(*lookup.used.lock().unwrap(), [TOKEN_SESSION]);
        }
    }

    #[tokio::test]
    async fn random_server_nonce_extends_the_client_nonce() {
        let mut server = SaslServer::new(Mechanism::ScramSha1, DOMAIN);
        let first = challenge(server.step(b"n,,n=user,r=abc", &FAKE).await);
        let nonce = first.split(',').next().unwrap().strip_prefix("r=abc").unwrap();
        assert!(STANDARD.decode(nonce).unwrap().len() >= 18);
    }

    #[tokio::test]
    async fn token_key_reports_its_session() {
        for mechanism in [Mechanism::ScramSha1, Mechanism::ScramSha256] {
            let step = exchange(mechanism, TOKEN, "n,,n=user,r=0123456789abcdef").await;
            let SaslStep::Success { authenticated, .. } = step else {
                panic!("{step:?}")
            };
            assert_eq!(authenticated.token_session, Some(TOKEN_SESSION));
            let step = exchange(mechanism, "pencil", "n,,n=user,r=0123456789abcdef").await;
            let SaslStep::Success { authenticated, .. } = step else {
                panic!("{step:?}")
            };
            assert_eq!(authenticated.token_session, None);
        }
    }

    #[tokio::test]
    async fn wrong_password() {
        let step = exchange(Mechanism::ScramSha256, "pencil2", "n,,n=user,r=0123456789abcdef").await;
        assert_eq!(failure(step), SaslFailure::NotAuthorized);
        // A proof of the wrong length is just wrong.
        let mut server = SaslServer::new(Mechanism::ScramSha1, DOMAIN);
        let first = challenge(server.step(b"n,,n=user,r=abc", &FAKE).await);
        let nonce = first.split(',').next().unwrap();
        let last = format!("c=biws,{nonce},p=AAAA");
        assert_eq!(
            failure(server.step(last.as_bytes(), &FAKE).await),
            SaslFailure::NotAuthorized
        );
    }

    #[tokio::test]
    async fn y_flag_and_matching_authzid_are_accepted() {
        let step = exchange(Mechanism::ScramSha1, "pencil", "y,,n=user,r=abc").await;
        assert!(matches!(step, SaslStep::Success { .. }), "{step:?}");
        let step = exchange(
            Mechanism::ScramSha1,
            "pencil",
            "n,a=user@EXAMPLE.com,n=user,r=abc",
        )
        .await;
        assert!(matches!(step, SaslStep::Success { .. }), "{step:?}");
        // The final c= must echo the header actually sent.
        let mut server = SaslServer::new(Mechanism::ScramSha1, DOMAIN);
        let first = challenge(server.step(b"y,,n=user,r=abc", &FAKE).await);
        let last = client_final(ScramHash::Sha1, "pencil", "n,,n=user,r=abc", &first);
        assert_eq!(
            failure(server.step(last.as_bytes(), &FAKE).await),
            SaslFailure::MalformedRequest
        );
    }

    #[tokio::test]
    async fn foreign_authzid() {
        let mut server = SaslServer::new(Mechanism::ScramSha1, DOMAIN);
        let step = server.step(b"n,a=other@example.com,n=user,r=abc", &FAKE).await;
        assert_eq!(failure(step), SaslFailure::NotAuthorized);
    }

    #[tokio::test]
    async fn unknown_user_gets_a_plausible_challenge_then_fails() {
        let mut server = SaslServer::new(Mechanism::ScramSha1, DOMAIN);
        let first = challenge(server.step(b"n,,n=nobody,r=abc", &FAKE).await);
        let (nonce, rest) = first.split_once(",s=").unwrap();
        let (salt, iterations) = rest.split_once(",i=").unwrap();
        assert!(nonce.starts_with("r=abc") && nonce.len() > "r=abc".len() + 24);
        assert_eq!(STANDARD.decode(salt).unwrap().len(), 16);
        assert_eq!(iterations, "4096");
        let last = client_final(ScramHash::Sha1, "pencil", "n,,n=nobody,r=abc", &first);
        assert_eq!(
            failure(server.step(last.as_bytes(), &FAKE).await),
            SaslFailure::NotAuthorized
        );

        // The salt is stable per name (as a real one is) and differs between names.
        let again = challenge(
            SaslServer::new(Mechanism::ScramSha256, DOMAIN)
                .step(b"n,,n=nobody,r=xyz", &FAKE)
                .await,
        );
        assert!(again.contains(&format!(",s={salt},")));
        let other = challenge(
            SaslServer::new(Mechanism::ScramSha1, DOMAIN)
                .step(b"n,,n=somebody,r=xyz", &FAKE)
                .await,
        );
        assert!(!other.contains(&format!(",s={salt},")));
    }

    #[tokio::test]
    async fn user_without_keys_fails() {
        let mut server = SaslServer::new(Mechanism::ScramSha1, DOMAIN);
        let first = challenge(server.step(b"n,,n=user,r=abc", &Fake::new(false, false)).await);
        let last = client_final(ScramHash::Sha1, TOKEN, "n,,n=user,r=abc", &first);
        assert_eq!(
            failure(server.step(last.as_bytes(), &Fake::new(false, false)).await),
            SaslFailure::NotAuthorized
        );
    }

    #[tokio::test]
    async fn malformed_client_first() {
        for input in [
            &b"n=user,r=abc"[..],          // no GS2 header
            b"p=tls-unique,,n=user,r=abc", // channel binding requested
            b"x,,n=user,r=abc",            // unknown flag
            b"n,user,n=user,r=abc",        // authzid without a=
            b"n,a=,n=user,r=abc",          // empty authzid
            b"n,,r=abc",                   // no username
            b"n,,n=,r=abc",                // empty username
            b"n,,m=ext,n=user,r=abc",      // reserved mandatory extension
            b"n,,n=user",                  // no nonce
            b"n,,n=user,r=",               // empty nonce
            b"n,,n=user,r=a b",            // unprintable nonce
            b"n,,n=us=41er,r=abc",         // bad escape
            b"n,,n=us=2",                  // truncated escape
            b"n,,n=user,r=abc\xff",        // not UTF-8
        ] {
            let mut server = SaslServer::new(Mechanism::ScramSha1, DOMAIN);
            let step = server.step(input, &FAKE).await;
            assert_eq!(
                failure(step),
                SaslFailure::MalformedRequest,
                "{}",
                String::from_utf8_lossy(input)
            );
        }
    }

    #[tokio::test]
    async fn malformed_client_final() {
        let mut server = SaslServer::with_server_nonce(Mechanism::ScramSha1, DOMAIN, "3rfcNHYJY1ZVvWVs7j");
        let first = challenge(server.step(b"n,,n=user,r=fyko+d2lbbFgONRv9qkxdawL", &FAKE).await);
        let good = client_final(
            ScramHash::Sha1,
            "pencil",
            "n,,n=user,r=fyko+d2lbbFgONRv9qkxdawL",
            &first,
        );
        assert_eq!(
            good,
            "c=biws,r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,p=v0X8v3Bz2T0CJGbJQyF0X+HI4Ts="
        );
        for bad in [
            "c=biws,r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j", // no proof
            "r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,p=v0X8v3Bz2T0CJGbJQyF0X+HI4Ts=", // no c=
            "c=biws,p=v0X8v3Bz2T0CJGbJQyF0X+HI4Ts=",               // no r=
            "c=eSws,r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,p=v0X8v3Bz2T0CJGbJQyF0X+HI4Ts=", // other header
            "c=biws,r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7X,p=v0X8v3Bz2T0CJGbJQyF0X+HI4Ts=", // tampered nonce
            "c=biws,r=fyko+d2lbbFgONRv9qkxdawL,p=v0X8v3Bz2T0CJGbJQyF0X+HI4Ts=", // client nonce only
            "c=biws,r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,p=v0X8v3Bz2T0CJG!bJQyF0X+HI4Ts=", // bad base64
            "c=bi!ws,r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,p=v0X8v3Bz2T0CJGbJQyF0X+HI4Ts=", // bad base64
            "c=biws,r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,p=v0X8v3Bz2T0CJGbJQyF0X+HI4Ts=,x=1", // proof not last
        ] {
            let mut server =
                SaslServer::with_server_nonce(Mechanism::ScramSha1, DOMAIN, "3rfcNHYJY1ZVvWVs7j");
            challenge(server.step(b"n,,n=user,r=fyko+d2lbbFgONRv9qkxdawL", &FAKE).await);
            assert_eq!(
                failure(server.step(bad.as_bytes(), &FAKE).await),
                SaslFailure::MalformedRequest,
                "{bad}"
            );
        }
    }

    #[tokio::test]
    async fn no_initial_response_and_size_limit() {
        let mut server = SaslServer::new(Mechanism::ScramSha256, DOMAIN);
        assert_eq!(server.step(b"", &FAKE).await, SaslStep::Challenge(Vec::new()));
        challenge(server.step(b"n,,n=user,r=abc", &FAKE).await);

        let mut server = SaslServer::new(Mechanism::ScramSha1, DOMAIN);
        let huge = format!("n,,n=user,r={}", "a".repeat(5000));
        assert_eq!(
            failure(server.step(huge.as_bytes(), &FAKE).await),
            SaslFailure::MalformedRequest
        );
        assert_eq!(
            failure(server.step(b"n,,n=user,r=abc", &FAKE).await),
            SaslFailure::MalformedRequest
        );
    }

    #[test]
    fn saslname_unescaping() {
        assert_eq!(unescape("user").unwrap(), "user");
        assert_eq!(unescape("a=2Cb=3Dc").unwrap(), "a,b=c");
        assert_eq!(unescape("=3D=2C").unwrap(), "=,");
        assert_eq!(unescape("a=2cb").unwrap_err(), SaslFailure::MalformedRequest);
        assert_eq!(unescape("a=3").unwrap_err(), SaslFailure::MalformedRequest);
        assert_eq!(unescape("a=20b").unwrap_err(), SaslFailure::MalformedRequest);
        assert_eq!(unescape("a=").unwrap_err(), SaslFailure::MalformedRequest);
        assert_eq!(unescape("a=é").unwrap_err(), SaslFailure::MalformedRequest);
    }
}
