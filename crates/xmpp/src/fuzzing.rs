//! Entry points for the coverage-guided fuzz targets in `fuzz/` (docs/reliability.md#fuzzing).
//!
//! Each function takes arbitrary bytes, drives one piece of input handling the way a connection would, and
//! panics only when an invariant breaks. The fuzz targets call them; `tests/fuzz_replay.rs` replays every
//! seed and every input that ever failed through them in the normal test run.

use std::future::Future;
use std::pin::pin;
use std::sync::OnceLock;
use std::task::{Context, Poll, Waker};

use serde_json::Value;

use crate::config::XmppConfig;
use crate::parsers::extra_params;
use crate::sasl::{
    decode_payload, encode_payload, Authenticated, CredentialLookup, Mechanism, SaslServer, SaslStep,
    ScramCredentials, ScramHash, ScramKeyPair,
};
use crate::stanza;
use crate::stream::parser::{Framing, StreamParser};
use crate::stream::{Inbound, TransportError};
use crate::xml::{self, Element};

/// The stanza limit after login: big enough that fuzz inputs are never cut by it, so the chunking
/// comparison below is exact.
const MAX_ELEMENT_BYTES: usize = 256 * 1024;

/// The XML stream parser and stanza decoding. The first byte picks the framing (TCP stream or WebSocket
/// fragments) and where the rest is cut into reads. Invariants: the events do not depend on how the bytes
/// were cut; every stanza re-serializes (as minidom would write it) to XML that parses back to the same element; reading a stanza's
/// address, `extraParams` and building an error reply never panic.
pub fn stream_parser(data: &[u8]) {
    let Some((&control, input)) = data.split_first() else {
        return;
    };
    let framing = if control & 1 == 0 {
        Framing::Stream
    } else {
        Framing::Fragments
    };
    let cut = usize::from(control >> 1) + 1;
    let whole = parse(framing, &[input]);
    let chunks: Vec<&[u8]> = input.chunks(cut).collect();
    let pieces = parse(framing, &chunks);
    assert_eq!(
        render(&whole.0),
        render(&pieces.0),
        "events differ when read in {cut}-byte pieces"
    );
    assert_eq!(
        whole.1.is_some(),
        pieces.1.is_some(),
        "error differs: {:?} / {:?}",
        whole.1,
        pieces.1
    );
    let config = XmppConfig::new("chat.example");
    for item in &whole.0 {
        if let Inbound::Stanza(element) = item {
            round_trip(element, framing);
            decode_stanza(element, &config, framing);
        }
    }
}

/// Feeds the chunks and collects every event until the first error.
fn parse(framing: Framing, chunks: &[&[u8]]) -> (Vec<Inbound>, Option<TransportError>) {
    let mut parser = StreamParser::new(framing, MAX_ELEMENT_BYTES);
    let mut events = Vec::new();
    for chunk in chunks {
        parser.feed(chunk);
        loop {
            match parser.next() {
                Ok(Some(event)) => events.push(event),
                Ok(None) => break,
                Err(err) => return (events, Some(err)),
            }
        }
    }
    (events, None)
}

fn render(events: &[Inbound]) -> Vec<String> {
    events
        .iter()
        .map(|event| match event {
            Inbound::Open(header) => format!("open {header:?}"),
            Inbound::Stanza(element) => xml::to_string(element),
            Inbound::Close => "close".to_owned(),
        })
        .collect()
}

/// What the server writes for a stanza must read back as the same stanza on the other side, over the
/// same framing (over TCP, `<open xmlns='urn:ietf:params:xml:ns:xmpp-framing'/>` is just an element).
fn round_trip(element: &Element, framing: Framing) {
    let text = xml::to_string(element);
    // The server's own writer must write what minidom writes.
    assert_eq!(
        text,
        crate::xml_write::minidom_string(element),
        "the writers differ"
    );
    let header = match framing {
        Framing::Stream => STREAM_HEADER,
        Framing::Fragments => "",
    };
    let (mut events, error) = parse(framing, &[header.as_bytes(), text.as_bytes()]);
    // The stream parser caps a name or an attribute value at 4 KiB; an element built from REST JSON
    // may hold a longer value. Clients' parsers take it; Palaver's own parser would refuse it as too
    // large, which is its limit working, not a broken stanza.
    if matches!(error, Some(TransportError::PolicyViolation)) {
        return;
    }
    assert!(
        error.is_none(),
        "re-serialized stanza does not parse: {error:?}\n{text}"
    );
    if framing == Framing::Stream {
        assert!(matches!(events.first(), Some(Inbound::Open(_))));
        events.remove(0);
    }
    match events.as_slice() {
        [Inbound::Stanza(again)] => assert_eq!(again, element, "re-parsed stanza differs\n{text}"),
        other => panic!("re-serialized stanza parses as {other:?}\n{text}"),
    }
}

const STREAM_HEADER: &str = "<stream:stream xmlns='jabber:client' \
    xmlns:stream='http://etherx.jabber.org/streams' to='chat.example' version='1.0'>";

/// What the modules read from any stanza before acting on it.
fn decode_stanza(element: &Element, config: &XmppConfig, framing: Framing) {
    let _ = stanza::is_stanza(element);
    let _ = stanza::target(element, config);
    if let Some(from) = element.attr("from") {
        let _ = stanza::classify(from, config);
    }
    if let Some(extra) = extra_params::find(element) {
        extra_params_stable(extra);
    }
    let reply = stanza::error_reply(element, stanza::Condition::BadRequest, "fuzz");
    round_trip(&reply, framing);
}

/// `extraParams` ⇄ JSON. The input is tried as an XML element and as a JSON object. Invariants: XML → JSON
/// → XML → JSON is stable after the first conversion (what the server stores is what it sends again), and
/// every element built from JSON serializes to XML that parses back unchanged.
pub fn extra_params(data: &[u8]) {
    let (events, _) = parse(Framing::Fragments, &[data]);
    for event in &events {
        if let Inbound::Stanza(element) = event {
            extra_params_stable(element);
        }
    }
    if let Ok(Value::Object(object)) = serde_json::from_slice::<Value>(data) {
        let attachments = object.get("attachments").cloned().unwrap_or(Value::Null);
        let params = extra_params::custom(object);
        let element = extra_params::from_json(&params, &attachments);
        round_trip(&element, Framing::Fragments);
        extra_params_stable(&element);
    }
}

fn extra_params_stable(extra: &Element) {
    let (attachments, params) = extra_params::to_json(extra);
    let built = extra_params::from_json(&params, &Value::Array(attachments));
    round_trip(&built, Framing::Fragments);
    let once = extra_params::to_json(&built);
    let twice = extra_params::to_json(&extra_params::from_json(&once.1, &Value::Array(once.0.clone())));
    assert_eq!(once, twice, "extraParams mapping is not stable");
}

/// SASL PLAIN and SCRAM-SHA-1/256 exchanges. The first byte picks the mechanism; the rest is the client's
/// messages separated by 0xFF bytes (a byte UTF-8 never contains), each also tried as a base64 payload.
/// Invariants: no panic, a garbage exchange never succeeds, and nothing after a failure succeeds either.
pub fn sasl(data: &[u8]) {
    let Some((&control, rest)) = data.split_first() else {
        return;
    };
    let mechanism = match control % 3 {
        0 => Mechanism::Plain,
        1 => Mechanism::ScramSha1,
        _ => Mechanism::ScramSha256,
    };
    let mut server = SaslServer::new(mechanism, "chat.example");
    let mut failed = false;
    for message in rest.split(|&b| b == 0xFF) {
        if let Ok(text) = std::str::from_utf8(message) {
            if let Ok(decoded) = decode_payload(text) {
                assert_eq!(decode_payload(&encode_payload(&decoded)).ok(), Some(decoded));
            }
        }
        let step = block_on(server.step(message, &FuzzCredentials));
        match step {
            SaslStep::Challenge(_) => assert!(!failed, "a challenge after a failure"),
            SaslStep::Failure(_) => failed = true,
            // PLAIN with the right password is the only way in; SCRAM would need a real proof.
            SaslStep::Success { authenticated, .. } => {
                assert!(!failed, "success after a failure");
                assert!(mechanism == Mechanism::Plain, "SCRAM succeeded without a proof");
                assert_eq!(authenticated.user.user_id, 5);
                return;
            }
        }
    }
}

/// One user, `5-1`, password `secret`, with cheap SCRAM keys (one iteration).
struct FuzzCredentials;

const FUZZ_SALT: &[u8] = b"fuzzsaltfuzzsalt";

#[async_trait::async_trait]
impl CredentialLookup for FuzzCredentials {
    async fn scram(&self, username: &str, hash: ScramHash) -> Option<ScramCredentials> {
        if username != "5-1" {
            return None;
        }
        static KEYS: OnceLock<[(Vec<u8>, Vec<u8>); 2]> = OnceLock::new();
        let keys = KEYS.get_or_init(|| {
            [
                palaver_core::credentials::scram_sha1_keys("secret", FUZZ_SALT, 1),
                palaver_core::credentials::scram_sha256_keys("secret", FUZZ_SALT, 1),
            ]
        });
        let (stored_key, server_key) = keys[usize::from(hash == ScramHash::Sha256)].clone();
        Some(ScramCredentials {
            user: user(),
            salt: FUZZ_SALT.to_vec(),
            iterations: 1,
            keys: vec![ScramKeyPair {
                stored_key,
                server_key,
                token_session: None,
            }],
            sealed_tokens: Vec::new(),
        })
    }

    async fn plain(&self, username: &str, password: &str) -> Option<Authenticated> {
        (username == "5-1" && password == "secret").then(|| Authenticated {
            user: user(),
            token_session: None,
        })
    }
}

fn user() -> palaver_proto::UserJid {
    palaver_proto::UserJid {
        user_id: 5,
        app_id: 1,
    }
}

/// WebSocket framing (RFC 6455 frames carrying RFC 7395 elements): the bytes are what a client sends after
/// the HTTP upgrade. Invariant: the transport ends with an event or an error, never a panic or a hang.
pub fn websocket(data: &[u8]) {
    use tokio::io::AsyncWriteExt;
    static RUNTIME: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    let runtime = RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a runtime")
    });
    runtime.block_on(async {
        let (client, server) = tokio::io::duplex(64 * 1024);
        let mut transport = crate::stream::websocket::WsTransport::from_raw(Box::new(server), false).await;
        let input = data.to_vec();
        let writer = tokio::spawn(async move {
            let mut client = client;
            let _ = client.write_all(&input).await;
            let _ = client.shutdown().await;
            // Kept open for the server's replies (pongs, close frames) until the transport is done.
            client
        });
        // Every event needs at least one byte, so this ends.
        for _ in 0..=data.len() {
            if transport.next().await.is_err() {
                break;
            }
        }
        drop(transport);
        let _ = writer.await;
    });
}

/// Polls a future that never waits on I/O (the fuzz credential lookups answer at once).
fn block_on<F: Future>(future: F) -> F::Output {
    let mut future = pin!(future);
    let mut context = Context::from_waker(Waker::noop());
    loop {
        if let Poll::Ready(output) = future.as_mut().poll(&mut context) {
            return output;
        }
    }
}
