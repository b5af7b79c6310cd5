//! `<iq/>` (RFC 6120 §8.2.3): a typed head and its payload. Requests are answered with `Iq::result` or an
//! error reply (`crate::stanza::error_reply`).

use super::head::{Head, ParseError};
use crate::xml::Element;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IqType {
    Get,
    Set,
    Result,
    Error,
    /// Anything else, kept as written (answered with `bad-request`).
    Other(String),
}

impl IqType {
    pub fn parse(value: &str) -> IqType {
        match value {
            "get" => IqType::Get,
            "set" => IqType::Set,
            "result" => IqType::Result,
            "error" => IqType::Error,
            other => IqType::Other(other.to_owned()),
        }
    }

    pub fn as_str(&self) -> &str {
        match self {
            IqType::Get => "get",
            IqType::Set => "set",
            IqType::Result => "result",
            IqType::Error => "error",
            IqType::Other(other) => other,
        }
    }

    pub fn is_request(&self) -> bool {
        matches!(self, IqType::Get | IqType::Set)
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Iq {
    pub head: Head,
    pub type_: Option<IqType>,
    /// The children: one payload for a request, none or one (and an error) for an answer.
    pub payloads: Vec<Element>,
}

impl TryFrom<Element> for Iq {
    type Error = ParseError;

    fn try_from(element: Element) -> Result<Iq, ParseError> {
        let (head, type_, payloads) = Head::take(element, "iq")?;
        Ok(Iq {
            head,
            type_: type_.as_deref().map(IqType::parse),
            payloads,
        })
    }
}

impl From<Iq> for Element {
    fn from(iq: Iq) -> Element {
        let type_ = iq.type_.as_ref().map(IqType::as_str);
        iq.head.build("iq", type_, iq.payloads)
    }
}

impl Iq {
    pub fn new(type_: IqType, id: impl Into<String>) -> Iq {
        let mut iq = Iq {
            head: Head::default(),
            type_: Some(type_),
            payloads: Vec::new(),
        };
        iq.head.id = Some(id.into());
        iq
    }

    pub fn with_payload(mut self, payload: impl Into<Element>) -> Iq {
        self.payloads.push(payload.into());
        self
    }

    /// The request's payload: its first child.
    pub fn payload(&self) -> Option<&Element> {
        self.payloads.first()
    }

    pub fn is_type(&self, kind: &IqType) -> bool {
        self.type_.as_ref() == Some(kind)
    }

    pub fn is_request(&self) -> bool {
        self.type_.as_ref().is_some_and(IqType::is_request)
    }

    /// The `result` answering this iq, with an optional payload.
    pub fn result(&self, payload: Option<Element>) -> Iq {
        Iq {
            head: self.head.reply(),
            type_: Some(IqType::Result),
            payloads: payload.into_iter().collect(),
        }
    }
}
