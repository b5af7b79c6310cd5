//! Stanza errors (RFC 6120 §8.3) with the legacy numeric code the SDKs read (XEP-0086).

use super::head::ParseError;
use crate::ns;
use crate::xml::{self, Element};

/// RFC 6120 stanza error conditions with the legacy numeric code the SDKs read (XEP-0086).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Condition {
    BadRequest,
    Forbidden,
    ItemNotFound,
    NotAcceptable,
    NotAllowed,
    NotAuthorized,
    FeatureNotImplemented,
    ServiceUnavailable,
    RemoteServerNotFound,
    ResourceConstraint,
    InternalServerError,
    PolicyViolation,
    Conflict,
    RegistrationRequired,
}

impl Condition {
    fn parts(self) -> (&'static str, &'static str, &'static str) {
        // (element, legacy code, type)
        match self {
            Condition::BadRequest => ("bad-request", "400", "modify"),
            Condition::Forbidden => ("forbidden", "403", "auth"),
            Condition::ItemNotFound => ("item-not-found", "404", "cancel"),
            Condition::NotAcceptable => ("not-acceptable", "406", "modify"),
            Condition::NotAllowed => ("not-allowed", "405", "cancel"),
            Condition::NotAuthorized => ("not-authorized", "401", "auth"),
            Condition::FeatureNotImplemented => ("feature-not-implemented", "501", "cancel"),
            Condition::ServiceUnavailable => ("service-unavailable", "503", "cancel"),
            Condition::RemoteServerNotFound => ("remote-server-not-found", "404", "cancel"),
            Condition::ResourceConstraint => ("resource-constraint", "500", "wait"),
            Condition::InternalServerError => ("internal-server-error", "500", "cancel"),
            Condition::PolicyViolation => ("policy-violation", "406", "modify"),
            Condition::Conflict => ("conflict", "409", "cancel"),
            Condition::RegistrationRequired => ("registration-required", "407", "auth"),
        }
    }

    pub fn name(self) -> &'static str {
        self.parts().0
    }

    pub const ALL: [Condition; 14] = [
        Condition::BadRequest,
        Condition::Forbidden,
        Condition::ItemNotFound,
        Condition::NotAcceptable,
        Condition::NotAllowed,
        Condition::NotAuthorized,
        Condition::FeatureNotImplemented,
        Condition::ServiceUnavailable,
        Condition::RemoteServerNotFound,
        Condition::ResourceConstraint,
        Condition::InternalServerError,
        Condition::PolicyViolation,
        Condition::Conflict,
        Condition::RegistrationRequired,
    ];

    pub fn from_name(name: &str) -> Option<Condition> {
        Condition::ALL.into_iter().find(|c| c.name() == name)
    }
}

/// The `<error>` element: legacy `code`, type, condition and a human-readable `<text>` (the SDKs build
/// their error objects from `code` and `text` only).
pub fn error_element(condition: Condition, text: &str) -> Element {
    Element::from(ErrorElement {
        condition,
        text: text.to_owned(),
    })
}

/// The `<error>` child of a stanza as the server writes it (RFC 6120 §8.3 with XEP-0086's legacy code,
/// which xmpp-parsers' stanza error has no place for: the SDKs read it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ErrorElement {
    pub condition: Condition,
    pub text: String,
}

impl TryFrom<Element> for ErrorElement {
    type Error = ParseError;

    fn try_from(error: Element) -> Result<ErrorElement, ParseError> {
        if !error.is("error", ns::CLIENT) {
            return Err(ParseError::WrongElement("error"));
        }
        let condition = error
            .children()
            .filter(|c| c.has_ns(ns::STANZAS))
            .find_map(|c| Condition::from_name(c.name()))
            .ok_or(ParseError::Invalid("an error needs a known condition"))?;
        let text = error
            .get_child("text", ns::STANZAS)
            .map(Element::text)
            .unwrap_or_default();
        Ok(ErrorElement { condition, text })
    }
}

impl From<ErrorElement> for Element {
    fn from(ErrorElement { condition, text }: ErrorElement) -> Element {
        let (name, code, kind) = condition.parts();
        let mut error = xml::element("error", ns::CLIENT);
        xml::set_attr(&mut error, "code", code);
        xml::set_attr(&mut error, "type", kind);
        error.append_child(xml::element(name, ns::STANZAS));
        let mut text_element = xml::with_text(xml::element("text", ns::STANZAS), text);
        text_element.attrs_mut().insert(
            rxml::Namespace::xml().clone(),
            "lang".try_into().expect("valid name"),
            "en".into(),
        );
        error.append_child(text_element);
        error
    }
}
