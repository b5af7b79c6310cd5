//! What the XMPP server records in Prometheus metrics (names in `palaver_core::metrics`): connections
//! and bound sessions by transport, SASL logins and failures, stanzas in and out by kind, and chat
//! messages routed. Label values come only from the fixed sets below, never from what a client sent.

use crate::ns;
use crate::sasl::{Authenticated, Mechanism, SaslFailure};
use crate::stream::kind::TransportKind;
use crate::xml::Element;
use metrics::{Counter, Histogram};
use palaver_core::metrics::{self as names, label};
use std::sync::OnceLock;

fn transport(kind: TransportKind) -> &'static str {
    match kind {
        TransportKind::WebSocket => "websocket",
        TransportKind::Tcp => "tcp",
    }
}

/// Counts one connection from accept to end: opened now, closed when dropped (also when the task ends
/// early).
pub struct ConnectionMetric(&'static str);

impl ConnectionMetric {
    pub fn open(kind: TransportKind) -> ConnectionMetric {
        let transport = transport(kind);
        metrics::counter!(names::XMPP_CONNECTIONS_OPENED, label::TRANSPORT => transport).increment(1);
        ConnectionMetric(transport)
    }
}

impl Drop for ConnectionMetric {
    fn drop(&mut self) {
        metrics::counter!(names::XMPP_CONNECTIONS_CLOSED, label::TRANSPORT => self.0).increment(1);
    }
}

/// Holds one bound session in the sessions gauge until dropped.
pub struct SessionMetric(&'static str);

impl SessionMetric {
    pub fn start(kind: TransportKind) -> SessionMetric {
        let transport = transport(kind);
        metrics::gauge!(names::XMPP_SESSIONS, label::TRANSPORT => transport).increment(1.0);
        SessionMetric(transport)
    }
}

impl Drop for SessionMetric {
    fn drop(&mut self) {
        metrics::gauge!(names::XMPP_SESSIONS, label::TRANSPORT => self.0).decrement(1.0);
    }
}

/// Puts the sessions gauge of every transport on the page at zero, before anyone connects.
pub fn register_gauges() {
    for kind in [TransportKind::WebSocket, TransportKind::Tcp] {
        metrics::gauge!(names::XMPP_SESSIONS, label::TRANSPORT => transport(kind)).set(0.0);
    }
}

/// The end of a SASL exchange: a login by mechanism and credential, or a failure by mechanism (`none`
/// when the client named one the server does not have) and condition.
pub fn sasl_outcome<T>(mechanism: Option<Mechanism>, outcome: &Result<(Authenticated, T), SaslFailure>) {
    let mechanism = mechanism.map_or("none", Mechanism::name);
    match outcome {
        Ok((authenticated, _)) => {
            let credential = match authenticated.token_session {
                Some(_) => "token",
                None => "password",
            };
            metrics::counter!(names::XMPP_LOGINS, label::MECHANISM => mechanism, label::CREDENTIAL => credential)
                .increment(1);
        }
        Err(failure) => {
            metrics::counter!(names::XMPP_LOGIN_FAILURES, label::MECHANISM => mechanism, label::REASON => failure.condition())
                .increment(1);
        }
    }
}

/// The stanza kinds a counter is labelled with.
const STANZA_KINDS: [&str; 3] = ["message", "presence", "iq"];

/// The stanza kind of a top-level element (an index into `STANZA_KINDS`), None for stream-level
/// elements (SASL, stream management…).
fn stanza_kind(element: &Element) -> Option<usize> {
    if !element.has_ns(ns::CLIENT) {
        return None;
    }
    STANZA_KINDS.iter().position(|kind| *kind == element.name())
}

/// The counters of the per-stanza metrics, looked up in the recorder once each: the `counter!` macro
/// builds its key and searches the registry on every call, which perf showed at 2 % of the server's
/// core in 1-1 chat at 10,000 msg/s. First used once the server runs, after the recorder is installed.
struct Counters<const N: usize>([OnceLock<Counter>; N]);

impl<const N: usize> Counters<N> {
    const fn new() -> Self {
        Counters([const { OnceLock::new() }; N])
    }

    fn get(&self, index: usize, make: impl FnOnce() -> Counter) -> &Counter {
        self.0[index].get_or_init(make)
    }
}

pub fn stanza_received(element: &Element) {
    static RECEIVED: Counters<3> = Counters::new();
    if let Some(kind) = stanza_kind(element) {
        RECEIVED
            .get(
                kind,
                || metrics::counter!(names::XMPP_STANZAS_RECEIVED, label::KIND => STANZA_KINDS[kind]),
            )
            .increment(1);
    }
}

pub fn stanzas_sent(elements: &[Element]) {
    static SENT: Counters<3> = Counters::new();
    for kind in elements.iter().filter_map(stanza_kind) {
        SENT.get(
            kind,
            || metrics::counter!(names::XMPP_STANZAS_SENT, label::KIND => STANZA_KINDS[kind]),
        )
        .increment(1);
    }
}

/// A message from a client was accepted and handed to routing; only content counts (not typing,
/// markers, edits or deletes).
pub fn message_routed(content: bool, groupchat: bool) {
    static ROUTED: Counters<2> = Counters::new();
    if !content {
        return;
    }
    let (index, kind) = if groupchat { (1, "groupchat") } else { (0, "chat") };
    ROUTED
        .get(
            index,
            || metrics::counter!(names::XMPP_MESSAGES_ROUTED, label::TYPE => kind),
        )
        .increment(1);
}

/// How long a message took from its arrival until it was durable and handed to its recipients.
pub fn message_delivered(took: std::time::Duration) {
    static DELIVERY: OnceLock<Histogram> = OnceLock::new();
    DELIVERY
        .get_or_init(|| metrics::histogram!(names::DELIVERY_DURATION))
        .record(took.as_secs_f64());
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Element {
        text.parse().unwrap()
    }

    #[test]
    fn only_client_stanzas_have_a_kind() {
        assert_eq!(
            stanza_kind(&parse(r#"<message xmlns="jabber:client"/>"#)),
            Some(0)
        );
        assert_eq!(
            stanza_kind(&parse(r#"<presence xmlns="jabber:client"/>"#)),
            Some(1)
        );
        assert_eq!(stanza_kind(&parse(r#"<iq xmlns="jabber:client"/>"#)), Some(2));
        assert_eq!(stanza_kind(&parse(r#"<r xmlns="urn:xmpp:sm:3"/>"#)), None);
        assert_eq!(
            stanza_kind(&parse(r#"<success xmlns="urn:ietf:params:xml:ns:xmpp-sasl"/>"#)),
            None
        );
        assert_eq!(stanza_kind(&parse(r#"<message xmlns="urn:other"/>"#)), None);
    }
}
