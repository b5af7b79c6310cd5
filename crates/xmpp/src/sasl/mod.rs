//! SASL mechanisms (server side): PLAIN, SCRAM-SHA-1, SCRAM-SHA-256.
//!
//! [`SaslServer`] runs one exchange over raw bytes; the stream code wraps them in legacy SASL
//! (`urn:ietf:params:xml:ns:xmpp-sasl`) or SASL2 elements, which carry the same payloads. Secrets are
//! checked through [`CredentialLookup`], which the server implements on top of the store.

mod plain;
mod scram;

use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig, STANDARD};
use base64::engine::DecodePaddingMode;
use base64::Engine as _;
use palaver_proto::UserJid;

/// Largest SASL message (decoded) accepted from a client. Real messages are well under 200 bytes.
pub const MAX_MESSAGE_LEN: usize = 4096;

/// A SASL mechanism the server implements.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Mechanism {
    Plain,
    ScramSha1,
    ScramSha256,
}

impl Mechanism {
    /// Parses a mechanism name as sent in `mechanism="…"` (case-sensitive, as RFC 4422 names are).
    pub fn from_name(name: &str) -> Option<Mechanism> {
        match name {
            "PLAIN" => Some(Mechanism::Plain),
            "SCRAM-SHA-1" => Some(Mechanism::ScramSha1),
            "SCRAM-SHA-256" => Some(Mechanism::ScramSha256),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Mechanism::Plain => "PLAIN",
            Mechanism::ScramSha1 => "SCRAM-SHA-1",
            Mechanism::ScramSha256 => "SCRAM-SHA-256",
        }
    }
}

/// Mechanisms to advertise, strongest first. Never ANONYMOUS: v6 browser builds would pick it even when
/// they have credentials (docs/protocol.md#quirk-anonymous-fallback).
pub const ADVERTISED: [Mechanism; 3] = [Mechanism::ScramSha256, Mechanism::ScramSha1, Mechanism::Plain];

/// The hash function of a SCRAM mechanism.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ScramHash {
    Sha1,
    Sha256,
}

/// StoredKey and ServerKey of one secret the user may log in with.
#[derive(Clone)]
pub struct ScramKeyPair {
    pub stored_key: Vec<u8>,
    pub server_key: Vec<u8>,
    /// None = the user's password; Some(id) = REST session id of a live token.
    pub token_session: Option<i64>,
}

impl std::fmt::Debug for ScramKeyPair {
    // The keys are password equivalents for SCRAM; keep them out of logs.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ScramKeyPair")
            .field("token_session", &self.token_session)
            .finish_non_exhaustive()
    }
}

/// Everything SCRAM needs about a user for one hash.
#[derive(Debug, Clone)]
pub struct ScramCredentials {
    pub user: UserJid,
    pub salt: Vec<u8>,
    pub iterations: u32,
    /// Every accepted secret: the password (if the user has one) and each live session token, all
    /// derived with `salt` and `iterations`.
    pub keys: Vec<ScramKeyPair>,
    /// Live session tokens whose keys are not derived yet (kept sealed), by REST session id, newest
    /// first: tried through `CredentialLookup::token_keys` when no key in `keys` matches the proof.
    pub sealed_tokens: Vec<i64>,
}

/// Who logged in, and with which secret.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Authenticated {
    pub user: UserJid,
    /// None = the user's password; Some(id) = the REST session whose token was used.
    pub token_session: Option<i64>,
}

/// Implemented by the server on top of the store. Usernames are `{uid}-{app}`.
#[async_trait::async_trait]
pub trait CredentialLookup: Send + Sync {
    /// The user's SCRAM salt/iterations and every accepted key pair (password + each live session
    /// token) for this hash; None for unknown users/apps.
    async fn scram(&self, username: &str, hash: ScramHash) -> Option<ScramCredentials>;
    /// The key pair of one of `ScramCredentials::sealed_tokens`, derived now (and kept, so at most once per
    /// token); None when that session is gone. A lookup that reports no sealed tokens need not answer.
    async fn token_keys(&self, _user: UserJid, _session_id: i64, _hash: ScramHash) -> Option<ScramKeyPair> {
        None
    }
    /// Checks a PLAIN password, which may be the user's password or any live session token of that user.
    /// A token that checks out counts as used (its REST session kept alive).
    async fn plain(&self, username: &str, password: &str) -> Option<Authenticated>;
    /// A SCRAM proof made with the token of REST session `session_id` checked out: the token counts as
    /// used (its session kept alive). False when the session is gone meanwhile, which fails the login.
    async fn token_used(&self, _session_id: i64) -> bool {
        true
    }
}

/// What to send after a step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SaslStep {
    /// Send as <challenge> (raw bytes; the caller base64-encodes).
    Challenge(Vec<u8>),
    /// Send <success> with this additional data (SCRAM's `v=…`; None for PLAIN).
    Success {
        additional_data: Option<Vec<u8>>,
        authenticated: Authenticated,
    },
    Failure(SaslFailure),
}

/// A SASL failure condition (RFC 6120 §6.5).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("{}", self.text())]
pub enum SaslFailure {
    NotAuthorized,
    MalformedRequest,
    InvalidMechanism,
    Aborted,
    EncryptionRequired,
    TemporaryAuthFailure,
}

impl SaslFailure {
    /// The element name of the condition, e.g. `not-authorized`.
    pub fn condition(&self) -> &'static str {
        match self {
            SaslFailure::NotAuthorized => "not-authorized",
            SaslFailure::MalformedRequest => "malformed-request",
            SaslFailure::InvalidMechanism => "invalid-mechanism",
            SaslFailure::Aborted => "aborted",
            SaslFailure::EncryptionRequired => "encryption-required",
            SaslFailure::TemporaryAuthFailure => "temporary-auth-failure",
        }
    }

    /// A human-readable `<text>` for the failure.
    pub fn text(&self) -> &'static str {
        match self {
            SaslFailure::NotAuthorized => "Invalid username or password",
            SaslFailure::MalformedRequest => "Malformed SASL request",
            SaslFailure::InvalidMechanism => "Unsupported SASL mechanism",
            SaslFailure::Aborted => "Authentication aborted",
            SaslFailure::EncryptionRequired => "This mechanism requires an encrypted connection",
            SaslFailure::TemporaryAuthFailure => "Temporary authentication failure, try again later",
        }
    }
}

enum State {
    Plain,
    Scram(scram::ScramServer),
    Done,
}

/// One authentication exchange (legacy SASL or SASL2 — same bytes).
pub struct SaslServer {
    domain: String,
    state: State,
    /// Nothing has been fed yet, or only an empty initial response (answered with an empty challenge).
    at_start: bool,
}

impl SaslServer {
    /// `domain` = the XMPP domain; PLAIN's authzid may be empty or equal to the authcid's bare JID
    /// `{authcid}@{domain}`; anything else fails. SCRAM's `a=` follows the same rule.
    pub fn new(mechanism: Mechanism, domain: &str) -> SaslServer {
        let state = match mechanism {
            Mechanism::Plain => State::Plain,
            Mechanism::ScramSha1 => State::Scram(scram::ScramServer::new(ScramHash::Sha1)),
            Mechanism::ScramSha256 => State::Scram(scram::ScramServer::new(ScramHash::Sha256)),
        };
        SaslServer {
            domain: domain.to_owned(),
            state,
            at_start: true,
        }
    }

    /// A SCRAM exchange whose server nonce suffix is fixed, to replay the RFC examples.
    #[cfg(test)]
    pub(crate) fn with_server_nonce(mechanism: Mechanism, domain: &str, nonce: &str) -> SaslServer {
        let mut server = SaslServer::new(mechanism, domain);
        if let State::Scram(scram) = &mut server.state {
            scram.set_server_nonce(nonce);
        }
        server
    }

    /// Feed the client's initial response (may be empty) and then each <response>; returns what to send.
    ///
    /// An empty first input means "no initial response" (neither mechanism has a valid empty first
    /// message), so it is answered once with an empty challenge.
    pub async fn step(&mut self, input: &[u8], credentials: &dyn CredentialLookup) -> SaslStep {
        if input.len() > MAX_MESSAGE_LEN {
            self.state = State::Done;
            return SaslStep::Failure(SaslFailure::MalformedRequest);
        }
        let at_start = std::mem::replace(&mut self.at_start, false);
        if at_start && input.is_empty() && !matches!(self.state, State::Done) {
            // Only once: a second empty message is malformed.
            return SaslStep::Challenge(Vec::new());
        }
        let step = match &mut self.state {
            State::Plain => plain::authenticate(input, &self.domain, credentials).await,
            State::Scram(scram) => scram.step(input, &self.domain, credentials).await,
            State::Done => SaslStep::Failure(SaslFailure::MalformedRequest),
        };
        if !matches!(step, SaslStep::Challenge(_)) {
            self.state = State::Done;
        }
        step
    }
}

/// Whether `authzid` names the same entity as `authcid`: empty, or exactly the bare JID. Domains are
/// case-insensitive and usernames are digits, so the comparison ignores ASCII case.
fn authzid_allowed(authzid: &str, authcid: &str, domain: &str) -> bool {
    authzid.is_empty()
        || authzid
            .split_once('@')
            .is_some_and(|(node, d)| node == authcid && d.eq_ignore_ascii_case(domain))
}

/// Accepts padded and unpadded base64: clients differ, and either is unambiguous.
const LENIENT: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// Decodes a SASL payload element's text: base64 with surrounding whitespace, "=" meaning empty; Err on
/// invalid base64 (or a payload too large to be a SASL message).
pub fn decode_payload(text: &str) -> Result<Vec<u8>, SaslFailure> {
    let text = text.trim_matches(|c: char| c.is_ascii_whitespace());
    if text.is_empty() || text == "=" {
        return Ok(Vec::new());
    }
    if text.len() > MAX_MESSAGE_LEN.div_ceil(3) * 4 {
        return Err(SaslFailure::MalformedRequest);
    }
    LENIENT.decode(text).map_err(|_| SaslFailure::MalformedRequest)
}

/// Encodes a SASL payload: "=" for empty (RFC 6120 §6.4.2), else padded base64.
pub fn encode_payload(bytes: &[u8]) -> String {
    if bytes.is_empty() {
        "=".to_owned()
    } else {
        STANDARD.encode(bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mechanism_names_round_trip() {
        for mechanism in ADVERTISED {
            assert_eq!(Mechanism::from_name(mechanism.name()), Some(mechanism));
        }
        assert_eq!(
            ADVERTISED.map(Mechanism::name),
            ["SCRAM-SHA-256", "SCRAM-SHA-1", "PLAIN"]
        );
        assert_eq!(Mechanism::from_name("ANONYMOUS"), None);
        assert_eq!(Mechanism::from_name("plain"), None);
    }

    #[test]
    fn failure_conditions() {
        assert_eq!(SaslFailure::NotAuthorized.condition(), "not-authorized");
        assert_eq!(SaslFailure::MalformedRequest.condition(), "malformed-request");
        assert_eq!(
            SaslFailure::TemporaryAuthFailure.condition(),
            "temporary-auth-failure"
        );
        assert_eq!(
            SaslFailure::NotAuthorized.to_string(),
            SaslFailure::NotAuthorized.text()
        );
    }

    #[test]
    fn payload_coding() {
        assert_eq!(decode_payload("=").unwrap(), b"");
        assert_eq!(decode_payload("").unwrap(), b"");
        assert_eq!(decode_payload("  \n=\t").unwrap(), b"");
        assert_eq!(decode_payload(" biws\n").unwrap(), b"n,,");
        assert_eq!(decode_payload("AHVzZXIAcGVuY2ls").unwrap(), b"\0user\0pencil");
        assert_eq!(decode_payload("YQ==").unwrap(), b"a");
        assert_eq!(decode_payload("YQ").unwrap(), b"a");
        assert_eq!(decode_payload("b!ws"), Err(SaslFailure::MalformedRequest));
        assert_eq!(decode_payload("bi ws"), Err(SaslFailure::MalformedRequest));
        assert_eq!(
            decode_payload(&"A".repeat(8000)),
            Err(SaslFailure::MalformedRequest)
        );
        assert_eq!(encode_payload(b""), "=");
        assert_eq!(encode_payload(b"a"), "YQ==");
    }

    #[test]
    fn authzid_rule() {
        assert!(authzid_allowed("", "5-1", "chat.example"));
        assert!(authzid_allowed("5-1@chat.example", "5-1", "chat.example"));
        assert!(authzid_allowed("5-1@Chat.Example", "5-1", "chat.example"));
        assert!(!authzid_allowed("6-1@chat.example", "5-1", "chat.example"));
        assert!(!authzid_allowed("5-1@other.example", "5-1", "chat.example"));
        assert!(!authzid_allowed("5-1", "5-1", "chat.example"));
        assert!(!authzid_allowed("5-1@chat.example/res", "5-1", "chat.example"));
    }

    #[test]
    fn step_future_is_send() {
        fn assert_send<T: Send>(_: &T) {}
        struct Nobody;
        #[async_trait::async_trait]
        impl CredentialLookup for Nobody {
            async fn scram(&self, _: &str, _: ScramHash) -> Option<ScramCredentials> {
                None
            }
            async fn plain(&self, _: &str, _: &str) -> Option<Authenticated> {
                None
            }
        }
        let mut server = SaslServer::new(Mechanism::ScramSha1, "example.com");
        assert_send(&server.step(b"", &Nobody));
    }
}
