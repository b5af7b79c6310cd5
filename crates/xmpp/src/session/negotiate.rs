//! Before a session is online: stream headers, STARTTLS, SASL (legacy and SASL2), resource binding
//! (legacy and Bind2) and stream resumption. The elements are read and written with their types in
//! `crate::parsers` (`sasl`, `sasl2`, `bind`, `bind2`, `starttls`).

use crate::metrics::SessionMetric;
use crate::ns;
use crate::parsers::{bind, bind2, carbons, sasl as wire, sasl2, sm, starttls};
use crate::queue::QueueReceiver;
use crate::registry::{Command, SessionHandle};
use crate::sasl::{self, Authenticated, Mechanism, SaslFailure, SaslServer, SaslStep};
use crate::session::resume;
use crate::shared::Shared;
use crate::stanza;
use crate::stream::{Inbound, Transport, TransportError};
use crate::xml::{self, Element};
use palaver_proto::random_hex_token;

/// A session that is bound and ready to go online.
pub struct Bound {
    pub handle: SessionHandle,
    pub rx: QueueReceiver<Command>,
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
                    transport.send(&starttls::Proceed.into()).await?;
                    let acceptor = shared.starttls.as_ref().expect("checked above");
                    transport.starttls(acceptor).await?;
                    continue 'stream;
                }
                ("starttls", ns::TLS, _) => {
                    transport.send(&starttls::Failure.into()).await?;
                    let _ = transport.send_close().await;
                    return Ok(Outcome::Finished);
                }
                ("auth", ns::SASL, None) => match legacy_sasl(shared, transport, element).await? {
                    Some(authenticated) => {
                        auth = Some(authenticated);
                        transport.set_max_stanza_size(shared.config.max_stanza_after_auth);
                        transport.restart();
                        continue 'stream;
                    }
                    None => return Ok(Outcome::Finished),
                },
                ("authenticate", ns::SASL2, None) => {
                    let Some((authenticated, bind)) = sasl2(shared, transport, element).await? else {
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
        let required = tls_required(shared, transport);
        features.append_child(starttls::StartTls { required }.into());
        if required {
            return features;
        }
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
        let bind_feature = bind2::BindFeature {
            inline_features: vec![ns::SM.to_owned(), ns::CARBONS.to_owned()],
        };
        inline.append_child(bind_feature.into());
        inline.append_child(xml::element("sm", ns::SM));
        sasl2.append_child(inline);
        features.append_child(sasl2);
        features.append_child(legacy);
    } else {
        features.append_child(bind::BindFeature { required: false }.into());
        features.append_child(xml::with_child(
            bind::Session.into(),
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

/// Runs one SASL exchange: `namespace` names the namespace of challenges and responses (legacy SASL's or
/// SASL2's).
async fn exchange(
    shared: &Shared,
    transport: &mut Transport,
    mechanism: Mechanism,
    initial: Vec<u8>,
    namespace: &'static str,
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
                let challenge = wire::Challenge(wire::Payload {
                    namespace,
                    payload: sasl::encode_payload(&challenge),
                });
                transport.send(&challenge.into()).await?;
                let reply = match transport.next().await? {
                    Inbound::Stanza(reply) => reply,
                    Inbound::Close => return Ok(Err(SaslFailure::Aborted)),
                    Inbound::Open(_) => return Err(violation("invalid-xml", "Unexpected stream restart")),
                };
                if wire::Abort::try_from(reply.clone()).is_ok_and(|abort| abort.namespace == namespace) {
                    return Ok(Err(SaslFailure::Aborted));
                }
                let response = match wire::Response::try_from(reply) {
                    Ok(wire::Response(response)) if response.namespace == namespace => response,
                    _ => return Ok(Err(SaslFailure::MalformedRequest)),
                };
                input = match sasl::decode_payload(&response.payload) {
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

fn failure_element(namespace: &'static str, failure: &SaslFailure) -> Element {
    wire::Failure {
        namespace,
        condition: failure.condition().to_owned(),
        text: Some(failure.text().to_owned()),
    }
    .into()
}

/// Legacy SASL (RFC 6120 §6). On failure the stream is closed: the SDKs hang on a stream left open.
async fn legacy_sasl(
    shared: &Shared,
    transport: &mut Transport,
    auth: Element,
) -> Result<Option<Authenticated>> {
    let auth = wire::Auth::try_from(auth).map_err(|_| violation("invalid-xml", "Expected <auth/>"))?;
    let mechanism = auth.mechanism.as_deref().and_then(Mechanism::from_name);
    let initial = sasl::decode_payload(&auth.payload);
    let outcome = match (mechanism, initial) {
        (None, _) => Err(SaslFailure::InvalidMechanism),
        (_, Err(failure)) => Err(failure),
        (Some(mechanism), Ok(initial)) => exchange(shared, transport, mechanism, initial, ns::SASL).await?,
    };
    crate::metrics::sasl_outcome(mechanism, &outcome);
    match outcome {
        Ok((authenticated, additional)) => {
            let success = wire::Success {
                additional_data: additional
                    .map(|data| sasl::encode_payload(&data))
                    .unwrap_or_default(),
            };
            transport.send(&success.into()).await?;
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
    authenticate: Element,
) -> Result<Option<(Authenticated, Option<Bound>)>> {
    // An `<authenticate/>` that cannot be read (an unreadable Bind2 request) is a malformed request.
    let (mechanism, initial, bind_request) = match sasl2::Authenticate::try_from(authenticate) {
        Ok(authenticate) => (
            authenticate.mechanism.as_deref().and_then(Mechanism::from_name),
            match authenticate.initial_response {
                Some(response) => sasl::decode_payload(&response),
                None => Ok(Vec::new()),
            },
            authenticate.bind,
        ),
        Err(_) => (None, Err(SaslFailure::MalformedRequest), None),
    };
    let outcome = match (mechanism, initial) {
        (_, Err(failure @ SaslFailure::MalformedRequest)) => Err(failure),
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
    let mut success = sasl2::Success {
        additional_data: additional.map(|data| sasl::encode_payload(&data)),
        authorization_identifier: authenticated.user.bare(&shared.config.domain),
        payloads: Vec::new(),
    };
    if let Some(bind_request) = bind_request {
        if over_session_cap(shared, &authenticated) {
            // The login succeeded but no session can be bound with it: the whole stream is refused.
            crate::stream::close_with_error(transport, "policy-violation", TOO_MANY_SESSIONS).await;
            return Ok(None);
        }
        let (handle, rx) = bind(shared, &authenticated);
        let counted = SessionMetric::start(transport.kind());
        success.authorization_identifier = handle.full_jid(&shared.config.domain);
        let mut bound = bind2::Bound {
            mam_metadata: None,
            payloads: Vec::new(),
        };
        // The inline features: XEP-0198 `<enable/>` and carbons' `<enable/>`; others are ignored.
        let sm_request = bind_request
            .payloads
            .iter()
            .find_map(|payload| sm::Enable::try_from(payload.clone()).ok());
        if let Some(enable) = &sm_request {
            bound
                .payloads
                .push(crate::session::sm::inline_enabled(shared, &handle, enable.resume));
        }
        if bind_request
            .payloads
            .iter()
            .any(|payload| carbons::Enable::try_from(payload.clone()).is_ok())
        {
            handle.set_carbons(true);
        }
        success.payloads.push(bound.into());
        transport.send(&success.into()).await?;
        let bound = Bound {
            handle,
            rx,
            auth: authenticated,
            inline_sm: sm_request.is_some(),
            counted,
        };
        return Ok(Some((authenticated, Some(bound))));
    }
    transport.send(&success.into()).await?;
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
fn bind(shared: &Shared, auth: &Authenticated) -> (SessionHandle, QueueReceiver<Command>) {
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
    let set = iq.attr("type") == Some("set");
    let bind_request = iq
        .children()
        .find_map(|child| bind::BindQuery::try_from(child.clone()).ok());
    if set && bind_request.is_some() {
        if over_session_cap(shared, auth) {
            // RFC 6120 §7.6.2.2: the account has reached its limit of active resources.
            let reply = stanza::error_reply(iq, stanza::Condition::ResourceConstraint, TOO_MANY_SESSIONS);
            transport.send(&reply).await?;
            return Ok(None);
        }
        let (handle, rx) = bind(shared, auth);
        let counted = SessionMetric::start(transport.kind());
        let full = handle.full_jid(&shared.config.domain);
        let jid = xmpp_parsers::jid::FullJid::new(&full)
            .map_err(|_| violation("internal-server-error", "The bound address is not a full JID"))?;
        let result = stanza::iq_result(iq, Some(bind::BindResponse { jid }.into()));
        transport.send(&result).await?;
        return Ok(Some(Bound {
            handle,
            rx,
            auth: *auth,
            inline_sm: false,
            counted,
        }));
    }
    if set
        && iq
            .children()
            .any(|child| bind::Session::try_from(child.clone()).is_ok())
    {
        transport.send(&stanza::iq_result(iq, None)).await?;
        return Ok(None);
    }
    let reply = stanza::error_reply(iq, stanza::Condition::NotAllowed, "Bind a resource first");
    transport.send(&reply).await?;
    Ok(None)
}
