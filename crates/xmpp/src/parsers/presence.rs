//! `<presence/>` (RFC 6121 §4). Like messages: a typed head, the children as they came (status, show,
//! priority and extensions are echoed and forwarded, never rewritten).

use super::head::{Head, ParseError};
use crate::xml::Element;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PresenceType {
    /// No `type`, or ConnectyCube's explicit `available`.
    Available,
    Unavailable,
    Subscribe,
    Subscribed,
    Unsubscribe,
    Unsubscribed,
    Probe,
    Error,
    /// A type RFC 6121 does not define, kept as written.
    Other(String),
}

impl PresenceType {
    pub fn parse(value: &str) -> PresenceType {
        match value {
            "available" => PresenceType::Available,
            "unavailable" => PresenceType::Unavailable,
            "subscribe" => PresenceType::Subscribe,
            "subscribed" => PresenceType::Subscribed,
            "unsubscribe" => PresenceType::Unsubscribe,
            "unsubscribed" => PresenceType::Unsubscribed,
            "probe" => PresenceType::Probe,
            "error" => PresenceType::Error,
            other => PresenceType::Other(other.to_owned()),
        }
    }

    pub fn as_str(&self) -> &str {
        match self {
            PresenceType::Available => "available",
            PresenceType::Unavailable => "unavailable",
            PresenceType::Subscribe => "subscribe",
            PresenceType::Subscribed => "subscribed",
            PresenceType::Unsubscribe => "unsubscribe",
            PresenceType::Unsubscribed => "unsubscribed",
            PresenceType::Probe => "probe",
            PresenceType::Error => "error",
            PresenceType::Other(other) => other,
        }
    }

    /// One of the four subscription types (RFC 6121 §3).
    pub fn is_subscription(&self) -> bool {
        matches!(
            self,
            PresenceType::Subscribe
                | PresenceType::Subscribed
                | PresenceType::Unsubscribe
                | PresenceType::Unsubscribed
        )
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Presence {
    pub head: Head,
    /// As written: None for a plain available presence.
    pub type_: Option<PresenceType>,
    pub payloads: Vec<Element>,
}

impl TryFrom<Element> for Presence {
    type Error = ParseError;

    fn try_from(element: Element) -> Result<Presence, ParseError> {
        let (head, type_, payloads) = Head::take(element, "presence")?;
        Ok(Presence {
            head,
            type_: type_.as_deref().map(PresenceType::parse),
            payloads,
        })
    }
}

impl From<Presence> for Element {
    fn from(presence: Presence) -> Element {
        let type_ = presence.type_.as_ref().map(PresenceType::as_str);
        presence.head.build("presence", type_, presence.payloads)
    }
}

impl Presence {
    pub fn new(type_: Option<PresenceType>) -> Presence {
        Presence {
            head: Head::default(),
            type_,
            payloads: Vec::new(),
        }
    }

    /// With `from` (and optionally `to`) set: how the server writes the presences it makes.
    pub fn from_to(type_: Option<PresenceType>, from: impl Into<String>, to: Option<String>) -> Presence {
        let mut presence = Presence::new(type_);
        presence.head.from = Some(from.into());
        presence.head.to = to;
        presence
    }

    /// Available presence: no type, or `available`.
    pub fn is_available(&self) -> bool {
        matches!(self.type_, None | Some(PresenceType::Available))
    }

    pub fn with_payload(mut self, payload: Element) -> Presence {
        self.payloads.push(payload);
        self
    }
}
