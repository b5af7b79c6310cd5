//! Before a session is online: stream headers, STARTTLS, SASL (legacy and SASL2), resource binding
//! (legacy and Bind2) and stream resumption.

use crate::metrics::SessionMetric;
use crate::ns;
use crate::registry::{Command, SessionHandle};
use crate::sasl::{self, Authenticated, Mechanism, SaslFailure, SaslServer, SaslStep};
use crate::server::Shared;
use crate::session::resume;
use crate::stanza;
use crate::stream::{Inbound, Transport, TransportError};
use crate::xml::{self, Element};
use palaver_proto::random_hex_token;
use tokio::sync::mpsc;

/// A session that is bound and ready to go online.
pub struct Bound {
    pub handle: SessionHandle,
    pub rx: mpsc::Receiver<Command>,
    pub auth: Authenticated,
    /// Stream management enabled inline with Bind2 (XEP-0386), already answered inside `<bound/>`.
    pub inline_sm: bool,
    /// Counts the session as bound from before the client hears it is, until the session ends.
    pub counted: SessionMetric,
}

pub enum Outcome {
    Online(Bound),
    /// The client asked to resume this earlier session (XEP-0198) with its `h`.
    Resume {
        session: SessionHandle,
        h: u32,
        previd: String,
    },
    /// The stream ended during negotiation (closed, failed auth, or handed to a resumed session).
    Finished,
}

#[derive(Debug)]
pub enum NegotiationError {
    Transport(TransportError),
    Stream(&'static str, String),
}

impl NegotiationError {
    /// The stream error to send, if the connection is still worth talking to.
    pub fn stream_error(&self) -> Option<(&'static str, String)> {
        match self {
            NegotiationError::Transport(e) => e.stream_condition().map(|c| (c, e.to_string())),
            NegotiationError::Stream(condition, text) => Some((condition, text.clone())),
        }
    }
}

impl From<TransportError> for NegotiationError {
    fn from(error: TransportError) -> Self {
        NegotiationError::Transport(error)
    }
}

type Result<T> = std::result::Result<T, NegotiationError>;

fn violation(condition: &'static str, text: &str) -> NegotiationError {
    NegotiationError::Stream(condition, text.to_owned())
}

/// Whether this connection must upgrade with STARTTLS before anything else.
fn tls_required(shared: &Shared, transport: &Transport) -> bool {
    transport.can_starttls()
        && shared.starttls.is_some()
        && !shared.config.allow_plaintext
        && !transport.peer_addr().ip().is_loopback()
}

pub async fn negotiate(shared: &Shared, transport: &mut Transport) -> Result<Outcome> {
    let mut auth: Option<Authenticated> = None;
    'stream: loop {
        // A stream header opens (or, after STARTTLS and SASL, reopens) the stream.
        match transport.next().await? {
            Inbound::Open(header) => {
                if let Some(to) = header.to.as_deref() {
                    if !shared.config.serves(to) {
                        transport
                            .send_open(&shared.config.domain, &random_hex_token(8))
                            .await?;
                        return Err(violation(
                            "host-unknown",
                            "This server does not serve that domain",
                        ));
                    }
                }
            }
            Inbound::Close => return Ok(Outcome::Finished),
            Inbound::Stanza(_) => return Err(violation("not-well-formed", "Expected a stream header")),
        }
        transport
            .send_open(&shared.config.domain, &random_hex_token(8))
            .await?;
        transport
            .send(&features(shared, transport, auth.is_some()))
            .await?;

        loop {
            let element = match transport.next().await? {
                Inbound::Stanza(element) => element,
                Inbound::Close => {
                    let _ = transport.send_close().await;
                    return Ok(Outcome::Finished);
                }
                Inbound::Open(_) => return Err(violation("invalid-xml", "Unexpected stream restart")),
            };
            let (name, namespace) = (element.name().to_owned(), element.ns());
            if tls_required(shared, transport) && !(name == "starttls" && namespace == ns::TLS) {
                return Err(violation("policy-violation", "Use STARTTLS first"));
            }
            match (name.as_str(), namespace.as_str(), &auth) {
                ("starttls", ns::TLS, None) if transport.can_starttls() && shared.starttls.is_some() => {
                    transport.send(&xml::element("proceed", ns::TLS)).await?;
                    let acceptor = shared.starttls.as_ref().expect("checked above");
                    transport.starttls(acceptor).await?;
                    continue 'stream;
                }
                ("starttls", ns::TLS, _) => {
                    transport.send(&xml::element("failure", ns::TLS)).await?;
                    let _ = transport.send_close().await;
                    return Ok(Outcome::Finished);
                }
                ("auth", ns::SASL, None) => match legacy_sasl(shared, transport, &element).await? {
                    Some(authenticated) => {
                        auth = Some(authenticated);
                        transport.set_max_stanza_size(shared.config.max_stanza_after_auth);
                        transport.restart();
                        continue 'stream;
                    }
                    None => return Ok(Outcome::Finished),
                },
                ("authenticate", ns::SASL2, None) => {
                    let Some((authenticated, bind)) = sasl2(shared, transport, &element).await? else {
                        return Ok(Outcome::Finished);
                    };
                    transport.set_max_stanza_size(shared.config.max_stanza_after_auth);
                    match bind {
                        Some(bound) => return Ok(Outcome::Online(bound)),
                        None => {
                            // No restart in SASL2: fresh features with the bind feature right away.
                            transport.send(&features(shared, transport, true)).await?;
                            auth = Some(authenticated);
                        }
                    }
                }
                ("iq", ns::CLIENT, Some(authenticated)) => {
                    if let Some(bound) = legacy_iq(shared, transport, &element, authenticated).await? {
                        return Ok(Outcome::Online(bound));
                    }
                }
                ("enable", ns::SM, Some(_)) => {
                    let mut failed = xml::element("failed", ns::SM);
                    failed.append_child(xml::element("unexpected-request", ns::STANZAS));
                    transport.send(&failed).await?;
                }
                ("resume", ns::SM, Some(authenticated)) => {
                    match resume::find(shared, &element, authenticated) {
                        Some((session, h, previd)) => return Ok(Outcome::Resume { session, h, previd }),
                        None => transport.send(&resume::failed("item-not-found")).await?,
                    }
                }
                (_, _, None) => return Err(violation("not-authorized", "Authenticate first")),
                _ => return Err(violation("unsupported-stanza-type", "Bind a resource first")),
            }
        }
    }
}

/// The features for the current stage: STARTTLS, then the mechanisms (legacy SASL and SASL2 with inline
/// Bind2), then binding and stream management.
fn features(shared: &Shared, transport: &Transport, authenticated: bool) -> Element {
    let mut features = xml::element("features", ns::STREAM);
    if !authenticated && transport.can_starttls() && shared.starttls.is_some() {
        let mut starttls = xml::element("starttls", ns::TLS);
        if tls_required(shared, transport) {
            starttls.append_child(xml::element("required", ns::TLS));
            features.append_child(starttls);
            return features;
        }
        features.append_child(starttls);
    }
    if !authenticated {
        let mut legacy = xml::element("mechanisms", ns::SASL);
        let mut sasl2 = xml::element("authentication", ns::SASL2);
        for mechanism in sasl::ADVERTISED {
            legacy.append_child(xml::with_text(
                xml::element("mechanism", ns::SASL),
                mechanism.name(),
            ));
            sasl2.append_child(xml::with_text(
                xml::element("mechanism", ns::SASL2),
                mechanism.name(),
            ));
        }
        let mut inline = xml::element("inline", ns::SASL2);
        // Bind2 can enable stream management and carbons in the same round trip.
        let mut bind_inline = xml::element("inline", ns::BIND2);
        for feature in [ns::SM, ns::CARBONS] {
            bind_inline.append_child(xml::with_attr(xml::element("feature", ns::BIND2), "var", feature));
        }
        inline.append_child(xml::with_child(xml::element("bind", ns::BIND2), bind_inline));
        inline.append_child(xml::element("sm", ns::SM));
        sasl2.append_child(inline);
        features.append_child(sasl2);
        features.append_child(legacy);
    } else {
        features.append_child(xml::element("bind", ns::BIND));
        features.append_child(xml::with_child(
            xml::element("session", ns::SESSION),
            xml::element("optional", ns::SESSION),
        ));
        features.append_child(xml::element("sm", ns::SM));
    }
    features
}

/// The username a SASL initial response claims, for the failure throttle only.
fn claimed_username(mechanism: Mechanism, initial: &[u8]) -> String {
    let text = String::from_utf8_lossy(initial);
    match mechanism {
        Mechanism::Plain => text.split('\0').nth(1).unwrap_or_default().to_owned(),
        _ => text
            .split(',')
            .find_map(|part| part.strip_prefix("n="))
            .unwrap_or_default()
            .to_owned(),
    }
}

/// Runs one SASL exchange: `payload_ns` names the namespace of challenges and responses.
async fn exchange(
    shared: &Shared,
    transport: &mut Transport,
    mechanism: Mechanism,
    initial: Vec<u8>,
    payload_ns: &str,
) -> Result<std::result::Result<(Authenticated, Option<Vec<u8>>), SaslFailure>> {
    let credentials = crate::auth::CoreCredentials {
        core: shared.core.clone(),
    };
    let address = transport.peer_addr().ip();
    let username = claimed_username(mechanism, &initial);
    let delay = shared.core.password_gate.throttle.delay(address, &username);
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    let mut server = SaslServer::new(mechanism, &shared.config.domain);
    let mut input = initial;
    loop {
        match server.step(&input, &credentials).await {
            SaslStep::Challenge(challenge) => {
                let text = sasl::encode_payload(&challenge);
                transport
                    .send(&xml::with_text(xml::element("challenge", payload_ns), text))
                    .await?;
                let reply = match transport.next().await? {
                    Inbound::Stanza(reply) => reply,
                    Inbound::Close => return Ok(Err(SaslFailure::Aborted)),
                    Inbound::Open(_) => return Err(violation("invalid-xml", "Unexpected stream restart")),
                };
                if reply.is("abort", payload_ns) {
                    return Ok(Err(SaslFailure::Aborted));
                }
                if !reply.is("response", payload_ns) {
                    return Ok(Err(SaslFailure::MalformedRequest));
                }
                input = match sasl::decode_payload(&reply.text()) {
                    Ok(bytes) => bytes,
                    Err(failure) => return Ok(Err(failure)),
                };
            }
            SaslStep::Success {
                additional_data,
                authenticated,
            } => {
                shared
                    .core
                    .password_gate
                    .throttle
                    .record_success(address, &username);
                return Ok(Ok((authenticated, additional_data)));
            }
            SaslStep::Failure(failure) => {
                if failure == SaslFailure::NotAuthorized {
                    shared
                        .core
                        .password_gate
                        .throttle
                        .record_failure(address, &username);
                }
                return Ok(Err(failure));
            }
        }
    }
}

fn failure_element(namespace: &str, failure: &SaslFailure) -> Element {
    let mut element = xml::element("failure", namespace);
    element.append_child(xml::element(failure.condition(), ns::SASL));
    element.append_child(xml::with_text(xml::element("text", namespace), failure.text()));
    element
}

/// Legacy SASL (RFC 6120 §6). On failure the stream is closed: the SDKs hang on a stream left open.
async fn legacy_sasl(
    shared: &Shared,
    transport: &mut Transport,
    auth: &Element,
) -> Result<Option<Authenticated>> {
    let mechanism = auth.attr("mechanism").and_then(Mechanism::from_name);
    let initial = sasl::decode_payload(&auth.text());
    let outcome = match (mechanism, initial) {
        (None, _) => Err(SaslFailure::InvalidMechanism),
        (_, Err(failure)) => Err(failure),
        (Some(mechanism), Ok(initial)) => exchange(shared, transport, mechanism, initial, ns::SASL).await?,
    };
    crate::metrics::sasl_outcome(mechanism, &outcome);
    match outcome {
        Ok((authenticated, additional)) => {
            let mut success = xml::element("success", ns::SASL);
            if let Some(data) = additional {
                success.append_text(sasl::encode_payload(&data));
            }
            transport.send(&success).await?;
            Ok(Some(authenticated))
        }
        Err(failure) => {
            transport.send(&failure_element(ns::SASL, &failure)).await?;
            let _ = transport.send_close().await;
            Ok(None)
        }
    }
}

/// SASL2 (XEP-0388), with Bind2 (XEP-0386) when the client asks for it inline.
async fn sasl2(
    shared: &Shared,
    transport: &mut Transport,
    authenticate: &Element,
) -> Result<Option<(Authenticated, Option<Bound>)>> {
    let mechanism = authenticate.attr("mechanism").and_then(Mechanism::from_name);
    let initial = match authenticate.get_child("initial-response", ns::SASL2) {
        Some(response) => sasl::decode_payload(&response.text()),
        None => Ok(Vec::new()),
    };
    let outcome = match (mechanism, initial) {
        (None, _) => Err(SaslFailure::InvalidMechanism),
        (_, Err(failure)) => Err(failure),
        (Some(mechanism), Ok(initial)) => exchange(shared, transport, mechanism, initial, ns::SASL2).await?,
    };
    crate::metrics::sasl_outcome(mechanism, &outcome);
    let (authenticated, additional) = match outcome {
        Ok(success) => success,
        Err(failure) => {
            transport.send(&failure_element(ns::SASL2, &failure)).await?;
            let _ = transport.send_close().await;
            return Ok(None);
        }
    };
    let mut success = xml::element("success", ns::SASL2);
    if let Some(data) = additional {
        success.append_child(xml::with_text(
            xml::element("additional-data", ns::SASL2),
            sasl::encode_payload(&data),
        ));
    }
    let bare = authenticated.user.bare(&shared.config.domain);
    if let Some(bind_request) = authenticate.get_child("bind", ns::BIND2) {
        if over_session_cap(shared, &authenticated) {
            // The login succeeded but no session can be bound with it: the whole stream is refused.
            crate::session::close_with_error(transport, "policy-violation", TOO_MANY_SESSIONS).await;
            return Ok(None);
        }
        let (handle, rx) = bind(shared, &authenticated);
        let counted = SessionMetric::start(transport.kind());
        let full = handle.full_jid(&shared.config.domain);
        success.append_child(xml::with_text(
            xml::element("authorization-identifier", ns::SASL2),
            full,
        ));
        let mut bound_element = xml::element("bound", ns::BIND2);
        let sm_request = bind_request.get_child("enable", ns::SM);
        if let Some(enable) = sm_request {
            bound_element.append_child(crate::session::online::inline_enabled(shared, &handle, enable));
        }
        if bind_request.get_child("enable", ns::CARBONS).is_some() {
            handle.set_carbons(true);
        }
        success.append_child(bound_element);
        transport.send(&success).await?;
        let bound = Bound {
            handle,
            rx,
            auth: authenticated,
            inline_sm: sm_request.is_some(),
            counted,
        };
        return Ok(Some((authenticated, Some(bound))));
    }
    success.append_child(xml::with_text(
        xml::element("authorization-identifier", ns::SASL2),
        bare,
    ));
    transport.send(&success).await?;
    Ok(Some((authenticated, None)))
}

const TOO_MANY_SESSIONS: &str = "Too many sessions for this user";

/// Whether the user already has as many sessions as one user may (`max_sessions_per_user`, like ejabberd's
/// `max_user_sessions`). Checked before binding; two binds racing can pass together, so the cap may be
/// exceeded by the binds in flight at that moment.
fn over_session_cap(shared: &Shared, auth: &Authenticated) -> bool {
    let cap = shared.config.max_sessions_per_user;
    let over = cap > 0
        && shared
            .registry
            .with_sessions(auth.user, |sessions| sessions.len())
            >= cap;
    if over {
        metrics::counter!(palaver_core::metrics::LIMITED,
            palaver_core::metrics::label::LIMIT => palaver_core::metrics::limit::USER_SESSIONS)
        .increment(1);
        // Debug, not info: a client may retry its bind; the metric counts every refusal.
        tracing::debug!(user = %auth.user.bare(&shared.config.domain), cap, "session refused: too many sessions for this user");
    }
    over
}

/// Registers a new session under a long random resource (the SDKs drop messages whose `from` contains
/// their own resource, so it must never be a substring of another address).
fn bind(shared: &Shared, auth: &Authenticated) -> (SessionHandle, mpsc::Receiver<Command>) {
    let resource = format!("palaver-{}", random_hex_token(12));
    shared.registry.register(
        auth.user,
        resource,
        auth.token_session,
        shared.config.outbound_queue,
    )
}

/// Iqs before binding: the bind itself, and RFC 3921 session establishment.
async fn legacy_iq(
    shared: &Shared,
    transport: &mut Transport,
    iq: &Element,
    auth: &Authenticated,
) -> Result<Option<Bound>> {
    if iq.attr("type") == Some("set") && iq.get_child("bind", ns::BIND).is_some() {
        if over_session_cap(shared, auth) {
            // RFC 6120 §7.6.2.2: the account has reached its limit of active resources.
            let reply = stanza::error_reply(iq, stanza::Condition::ResourceConstraint, TOO_MANY_SESSIONS);
            transport.send(&reply).await?;
            return Ok(None);
        }
        let (handle, rx) = bind(shared, auth);
        let counted = SessionMetric::start(transport.kind());
        let jid = xml::with_text(
            xml::element("jid", ns::BIND),
            handle.full_jid(&shared.config.domain),
        );
        let result = stanza::iq_result(iq, Some(xml::with_child(xml::element("bind", ns::BIND), jid)));
        transport.send(&result).await?;
        return Ok(Some(Bound {
            handle,
            rx,
            auth: *auth,
            inline_sm: false,
            counted,
        }));
    }
    if iq.attr("type") == Some("set") && iq.get_child("session", ns::SESSION).is_some() {
        transport.send(&stanza::iq_result(iq, None)).await?;
        return Ok(None);
    }
    let reply = stanza::error_reply(iq, stanza::Condition::NotAllowed, "Bind a resource first");
    transport.send(&reply).await?;
    Ok(None)
}
